"""Adopting seed 000's live Helm release in place: pre-flight check, snapshot and verification.

    python -m tools.adopt check    [--stack adopt] [--live FILE]   # before changing anything
    python -m tools.adopt snapshot --out before.json [--live FILE]
    python -m tools.adopt verify   --before before.json [--live FILE]

`check` compares the cluster with what the stack declares and stops (exit 1), naming the object,
when anything seed 000 lists is missing, when an immutable field (a selector, a StatefulSet's
serviceName, podManagementPolicy or volume claim templates) differs, when a container would get
other resources than the live one (seed 000: "Resource Limits: tested", to preserve), when a
Service would lose its endpoints, when the Helm release moved on since the backup, or when the
namespace quota the stack sets leaves no room for the rolling update. `verify` compares a snapshot
taken before `pulumi up` with the cluster after it: no object or volume claim recreated, no
container restarted, Service IPs kept, the objects labelled as managed by Pulumi and no Helm
release record left.

The cluster is only read (`kubectl get`); `--live FILE` reads a saved `kubectl get -o json` list
instead (how the tests feed it). See docs/adoption.md for the ordered steps.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from components.quantities import format_bytes, format_cpu, parse_bytes, parse_cpu
from stacks.config import load_settings, project_values
from stacks.errors import ConfigError
from tools.offline import Recording, engine_value, run_stack, stack_config

RELEASE = "aegis-trader"
HELM_REVISION = 7  # seed 000: revision 7, deployed
HELM_SECRET_PREFIX = f"sh.helm.release.v1.{RELEASE}.v"
HELM_SECRET = f"{HELM_SECRET_PREFIX}{HELM_REVISION}"
# Only `get`: the check changes nothing. Secrets are listed by Helm's labels, and only their
# names are kept.
LIVE_KINDS = "statefulsets,deployments,services,jobs,persistentvolumeclaims,pods"

Manifest = dict[str, Any]


@dataclass(frozen=True)
class SeedObject:
    """One object of seed 000's inventory: kind, name, selector component, documented ports."""

    kind: str
    name: str
    component: str
    tier: str
    ports: tuple[int, ...] = ()

    @property
    def selector(self) -> dict[str, str]:
        return {"app.kubernetes.io/name": self.component, "app.kubernetes.io/instance": RELEASE}

    @property
    def label(self) -> str:
        return f"{self.kind} {self.name}"


SEED_000: tuple[SeedObject, ...] = (
    SeedObject("StatefulSet", "aegis-trader-nats", "nats", "message bus"),
    SeedObject("Service", "aegis-trader-nats", "nats", "message bus", (4222,)),
    SeedObject("Service", "aegis-trader-nats-headless", "nats", "message bus"),
    SeedObject("Deployment", "aegis-trader-monitor-api", "monitor-api", "ui"),
    SeedObject("Service", "aegis-trader-monitor-api", "monitor-api", "ui", (8100,)),
    SeedObject("Deployment", "aegis-trader-monitor-ui", "monitor-ui", "ui"),
    SeedObject("Service", "aegis-trader-monitor-ui", "monitor-ui", "ui", (3100,)),
    SeedObject("Deployment", "aegis-trader-nats-box", "nats-box", "message bus"),
    SeedObject("Job", "aegis-trader-create-kv-bucket", "create-kv-bucket", "message bus"),
)


@dataclass(frozen=True)
class Problem:
    """`blocking`: stop here. Otherwise a step the operator accepted (`--recreate`) and must run."""

    subject: str
    problem: str
    fix: str
    blocking: bool = True

    def message(self) -> str:
        return f"{self.subject}: {self.problem}. {'Fix' if self.blocking else 'Step'}: {self.fix}"


# --------------------------------------------------------------------------------------------
# Reading manifests.


def dig(value: Any, *path: str | int) -> Any:
    for key in path:
        if isinstance(key, int):
            if not isinstance(value, list) or len(value) <= key:
                return None
            value = value[key]
        elif isinstance(value, Mapping):
            value = value.get(key)
        else:
            return None
    return value


def index(items: Iterable[Manifest]) -> dict[tuple[str, str], Manifest]:
    return {(i.get("kind", ""), dig(i, "metadata", "name") or ""): i for i in items}


def desired_objects(recording: Recording, namespace: str) -> dict[tuple[str, str], Manifest]:
    """(kind, name) -> manifest of every object the stack declares in `namespace`."""
    found = {}
    for registration in recording.kubernetes_objects():
        body = registration.manifest()
        if dig(body, "metadata", "namespace") == namespace:
            found[(registration.kind, registration.object_name or "")] = body
    return found


def pod_template_labels(workload: Manifest) -> Mapping[str, Any]:
    return dig(workload, "spec", "template", "metadata", "labels") or {}


def _cpu(value: Any) -> Decimal:
    try:
        return parse_cpu(value) if value is not None else Decimal(0)
    except ValueError:
        return Decimal(0)


def _bytes(value: Any) -> int:
    try:
        return parse_bytes(value) if value is not None else 0
    except ValueError:
        return 0


def pod_resources(pod_spec: Mapping[str, Any], field: str = "requests") -> tuple[Decimal, int]:
    """CPU and memory one pod counts against a quota for `field` (requests or limits): its
    containers, or its largest init container when that is more."""
    cpu, memory, init_cpu, init_memory = Decimal(0), 0, Decimal(0), 0
    for c in pod_spec.get("containers") or []:
        cpu += _cpu(dig(c, "resources", field, "cpu"))
        memory += _bytes(dig(c, "resources", field, "memory"))
    for c in pod_spec.get("initContainers") or []:
        init_cpu = max(init_cpu, _cpu(dig(c, "resources", field, "cpu")))
        init_memory = max(init_memory, _bytes(dig(c, "resources", field, "memory")))
    return max(cpu, init_cpu), max(memory, init_memory)


# --------------------------------------------------------------------------------------------
# Pre-flight check.


def _claim_template(template: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of a volume claim template that must match (the list is immutable)."""
    spec = template.get("spec") or {}
    storage = dig(spec, "resources", "requests", "storage")
    return {
        "name": dig(template, "metadata", "name"),
        "labels": dig(template, "metadata", "labels") or {},
        "accessModes": sorted(spec.get("accessModes") or []),
        "storage": _bytes(storage) if storage is not None else None,
        "storageClassName": spec.get("storageClassName"),
    }


def _immutable_fields(kind: str, live: Manifest, want: Manifest) -> list[tuple[str, Any, Any]]:
    """(field, live value, declared value) for each immutable field that differs."""
    diffs = []
    if kind in ("Deployment", "StatefulSet"):
        live_sel = dig(live, "spec", "selector") or {}
        want_sel = dig(want, "spec", "selector") or {}
        if live_sel != want_sel:
            diffs.append(("spec.selector", live_sel, want_sel))
    if kind == "StatefulSet":
        for path, default in (("serviceName", None), ("podManagementPolicy", "OrderedReady")):
            live_value = dig(live, "spec", path) or default
            want_value = dig(want, "spec", path) or default
            if live_value != want_value:
                diffs.append((f"spec.{path}", live_value, want_value))
        live_claims = [_claim_template(t) for t in dig(live, "spec", "volumeClaimTemplates") or []]
        want_claims = [_claim_template(t) for t in dig(want, "spec", "volumeClaimTemplates") or []]
        if live_claims != want_claims:
            diffs.append(("spec.volumeClaimTemplates", live_claims, want_claims))
    return diffs


# The stack made for the adoption: seed 000's tested sizes, claims and images (Pulumi.adopt.yaml).
ADOPT_STACK = "adopt"
CLAIM_FIX = (
    "make the stack declare the live value (the adopt stack declares seed 000's 10Gi `standard` "
    "volumes: messageBus.storage.size and messageBus.storage.storageClass); what config cannot "
    "align, re-run with --recreate {key} to replace only the StatefulSet object "
    "(docs/adoption.md)"
)
RESOURCES_FIX = (
    "adopt with the stack that keeps seed 000's tested resources (`--stack adopt`, "
    "Pulumi.adopt.yaml), or make this stack declare the live values"
)
RECREATE_STEP = (
    "after the snapshot, `kubectl delete statefulset {name} --cascade=orphan`: its pods and "
    "volume claims stay, and the StatefulSet Pulumi creates adopts them by their selector"
)


def _resources(container: Mapping[str, Any]) -> dict[str, dict[str, Decimal | int]]:
    """A container's requests and limits as numbers, so `1` equals `1000m` and `2Gi` `2048Mi`."""
    out: dict[str, dict[str, Decimal | int]] = {}
    for field in ("requests", "limits"):
        given = dig(container, "resources", field) or {}
        out[field] = {
            name: (_cpu(value) if name == "cpu" else _bytes(value))
            for name, value in given.items()
            if name in ("cpu", "memory")
        }
    return out


def _check_resources(obj: SeedObject, live: Manifest, want: Manifest) -> list[Problem]:
    """Seed 000 lists its resource limits as tested and to preserve: a declared container must
    keep the live container's requests and limits (containers matched by name)."""
    live_containers = {
        c.get("name"): c for c in dig(live, "spec", "template", "spec", "containers") or []
    }
    problems = []
    for container in dig(want, "spec", "template", "spec", "containers") or []:
        live_container = live_containers.get(container.get("name"))
        if live_container is None:
            continue
        was, will = _resources(live_container), _resources(container)
        if was != will:
            problems.append(
                Problem(
                    f"{obj.kind} {obj.name} container {container.get('name')!r}",
                    f"resources would change from live {_shown(live_container)} to declared "
                    f"{_shown(container)}; seed 000 lists them as tested and to preserve",
                    RESOURCES_FIX,
                )
            )
    return problems


def _shown(container: Mapping[str, Any]) -> str:
    return json.dumps(dig(container, "resources") or {}, sort_keys=True)


def _check_service(
    name: str, live: Manifest, want: Manifest, live_items: Sequence[Manifest]
) -> list[Problem]:
    subject = f"Service {name}"
    problems = []
    live_sel = dig(live, "spec", "selector") or {}
    want_sel = dig(want, "spec", "selector") or {}
    if live_sel != want_sel:
        problems.append(
            Problem(
                subject,
                f"live selector {live_sel} differs from the declared {want_sel}; the merged "
                "selector could match no pod",
                "align the selector labels (name + instance) before adopting",
            )
        )
    workloads = [
        i
        for i in live_items
        if i.get("kind") in ("Deployment", "StatefulSet")
        and live_sel
        and all(pod_template_labels(i).get(k) == v for k, v in live_sel.items())
    ]
    live_ports = {p.get("port"): p for p in dig(live, "spec", "ports") or []}
    for port in dig(want, "spec", "ports") or []:
        target = port.get("targetPort")
        if not isinstance(target, str) or port.get("port") not in live_ports:
            continue
        for workload in workloads:
            containers = dig(workload, "spec", "template", "spec", "containers") or []
            names = {p.get("name") for c in containers for p in c.get("ports") or []}
            if target not in names:
                problems.append(
                    Problem(
                        subject,
                        f"port {port.get('port')} would target the named port {target!r}, which "
                        f"the live pods of {workload.get('kind')} "
                        f"{dig(workload, 'metadata', 'name')} do not declare: the Service would "
                        "have no endpoints until every pod is replaced",
                        "adopt in a maintenance window, or first roll the live pods to a template "
                        f"that names the container port {target!r}",
                    )
                )
    return problems


def _helm_revisions(live_items: Sequence[Manifest]) -> list[int]:
    revisions = []
    for item in live_items:
        name = dig(item, "metadata", "name") or ""
        if item.get("kind") == "Secret" and name.startswith(HELM_SECRET_PREFIX):
            suffix = name[len(HELM_SECRET_PREFIX) :]
            if suffix.isdigit():
                revisions.append(int(suffix))
    return sorted(revisions)


QUOTA_KEYS = {
    "requests.cpu": "requestsCpu",
    "requests.memory": "requestsMemory",
    "limits.cpu": "limitsCpu",
    "limits.memory": "limitsMemory",
}


def _quota_problems(
    live_items: Sequence[Manifest], desired: Mapping[tuple[str, str], Manifest]
) -> list[Problem]:
    """The quota the stack sets must hold the live pods plus one rolling-update surge pod."""
    quota = next((m for (kind, _), m in desired.items() if kind == "ResourceQuota"), None)
    hard = dig(quota, "spec", "hard") or {}
    problems = []
    for field in ("requests", "limits"):
        live_cpu, live_memory = Decimal(0), 0
        for pod in live_items:
            if pod.get("kind") != "Pod" or dig(pod, "status", "phase") in ("Succeeded", "Failed"):
                continue
            cpu, memory = pod_resources(dig(pod, "spec") or {}, field)
            live_cpu, live_memory = live_cpu + cpu, live_memory + memory
        # A rolling update adds one new pod before an old one goes: room for the largest.
        surge_cpu, surge_memory = Decimal(0), 0
        for (kind, _), body in desired.items():
            if kind in ("Deployment", "StatefulSet"):
                spec = dig(body, "spec", "template", "spec") or {}
                cpu, memory = pod_resources(spec, field)
                surge_cpu, surge_memory = max(surge_cpu, cpu), max(surge_memory, memory)
        over: list[tuple[str, str, str, str]] = []  # key, live, surge, needed
        cpu_key, memory_key = f"{field}.cpu", f"{field}.memory"
        if cpu_key in hard and live_cpu + surge_cpu > _cpu(hard[cpu_key]):
            over.append(
                (
                    cpu_key,
                    format_cpu(live_cpu),
                    format_cpu(surge_cpu),
                    format_cpu(live_cpu + surge_cpu),
                )
            )
        if memory_key in hard and live_memory + surge_memory > _bytes(hard[memory_key]):
            over.append(
                (
                    memory_key,
                    format_bytes(live_memory),
                    format_bytes(surge_memory),
                    format_bytes(live_memory + surge_memory),
                )
            )
        for key, live, surge, needed in over:
            problems.append(
                Problem(
                    "ResourceQuota",
                    f"the live pods' {key} add up to {live} and a rolling update needs {surge} "
                    f"more, above the stack's quota {key} {hard[key]}: new pods would be refused",
                    f"for the adoption run set cluster.quota.{QUOTA_KEYS[key]} to at least "
                    f"{needed}, and lower it once the pods have rolled",
                )
            )
    return problems


def check(
    live_items: Sequence[Manifest],
    desired: Mapping[tuple[str, str], Manifest],
    namespace: str,
    seed: Sequence[SeedObject] = SEED_000,
    recreate: Iterable[str] = (),
) -> list[Problem]:
    """Everything that must hold before `pulumi up` adopts the release; no blocking problem
    when it may go on. `recreate` names StatefulSets (`StatefulSet/<name>`) whose object may be
    replaced without its pods: their immutable differences become steps, except a selector or a
    claim template name (the pods and volume claims could not be adopted then)."""
    recreate = set(recreate)
    live = index(live_items)
    problems = []
    for obj in seed:
        if (obj.kind, obj.name) not in live:
            problems.append(
                Problem(
                    f"{obj.kind} {namespace}/{obj.name}",
                    "is missing from the cluster (seed 000 lists it); nothing was changed",
                    "restore it from the backup (`kubectl apply -f helm-manifest.yaml`) or find "
                    "out why it is gone before adopting",
                )
            )
        if (obj.kind, obj.name) not in desired:
            problems.append(
                Problem(
                    f"{obj.kind} {namespace}/{obj.name}",
                    f"is not declared by the stack (the {obj.tier} tier): Pulumi would not "
                    "manage it once Helm lets go",
                    f"deploy the {obj.tier} tier in this stack before adopting",
                )
            )
    if problems:
        return problems  # everything below compares objects that must exist first

    for obj in seed:
        live_obj, want = live[(obj.kind, obj.name)], desired[(obj.kind, obj.name)]
        key = f"{obj.kind}/{obj.name}"
        for path, live_value, want_value in _immutable_fields(obj.kind, live_obj, want):
            subject = f"{obj.kind} {namespace}/{obj.name}"
            text = (
                f"{path} is immutable and differs: live {json.dumps(live_value)}, declared "
                f"{json.dumps(want_value)}"
            )
            same_claims = path != "spec.volumeClaimTemplates" or [
                c["name"] for c in live_value
            ] == [c["name"] for c in want_value]
            if key in recreate and path != "spec.selector" and same_claims:
                problems.append(Problem(subject, text, RECREATE_STEP.format(name=obj.name), False))
            elif path == "spec.selector":
                problems.append(
                    Problem(
                        subject,
                        text,
                        "selectors are name + instance on both sides per seed "
                        "000; find out who changed the live one before adopting",
                    )
                )
            else:
                fix = (
                    CLAIM_FIX
                    if path == "spec.volumeClaimTemplates"
                    else ("align the stack with the live value, or re-run with --recreate {key}")
                )
                problems.append(Problem(subject, text, fix.format(key=key)))
        if obj.kind == "Service":
            problems.extend(_check_service(obj.name, live_obj, want, live_items))
        if obj.kind in ("Deployment", "StatefulSet"):
            problems.extend(_check_resources(obj, live_obj, want))
        if obj.kind == "Job" and not dig(live_obj, "status", "succeeded"):
            problems.append(
                Problem(
                    f"Job {namespace}/{obj.name}",
                    "has not completed",
                    "wait for it to succeed (or fix the KV bucket) before adopting",
                )
            )
        if obj.kind == "StatefulSet":
            replicas = dig(live_obj, "spec", "replicas") or 1
            for template in dig(live_obj, "spec", "volumeClaimTemplates") or []:
                for ordinal in range(int(replicas)):
                    claim = f"{dig(template, 'metadata', 'name')}-{obj.name}-{ordinal}"
                    pvc = live.get(("PersistentVolumeClaim", claim))
                    if pvc is None or dig(pvc, "status", "phase") != "Bound":
                        problems.append(
                            Problem(
                                f"PersistentVolumeClaim {namespace}/{claim}",
                                "is missing or not Bound",
                                "find the volume before adopting: the adoption must keep it",
                            )
                        )

    revisions = _helm_revisions(live_items)
    if revisions and revisions[-1] != HELM_REVISION:
        problems.append(
            Problem(
                f"Helm release {RELEASE}",
                f"is at revision {revisions[-1]}, not seed 000's {HELM_REVISION}: someone ran "
                "helm after the freeze",
                "freeze Helm again, take a new backup with `helm get manifest`, re-run the check",
            )
        )
    problems.extend(_quota_problems(live_items, desired))
    return problems


# --------------------------------------------------------------------------------------------
# Snapshot and verification.


def snapshot(live_items: Sequence[Manifest], seed: Sequence[SeedObject] = SEED_000) -> Manifest:
    """What must survive the adoption: UIDs, Service IPs, volume claims, container restarts."""
    live = index(live_items)
    objects = {}
    for obj in seed:
        item = live.get((obj.kind, obj.name))
        if item is not None:
            objects[f"{obj.kind}/{obj.name}"] = {
                "uid": dig(item, "metadata", "uid"),
                "clusterIP": dig(item, "spec", "clusterIP"),
                "managedBy": dig(item, "metadata", "labels", "app.kubernetes.io/managed-by"),
            }
    claims = {
        dig(i, "metadata", "name"): {
            "uid": dig(i, "metadata", "uid"),
            "volume": dig(i, "spec", "volumeName"),
        }
        for i in live_items
        if i.get("kind") == "PersistentVolumeClaim"
    }
    pods = {
        dig(i, "metadata", "name"): {
            "uid": dig(i, "metadata", "uid"),
            "restarts": {
                s.get("name"): s.get("restartCount", 0)
                for s in dig(i, "status", "containerStatuses") or []
            },
        }
        for i in live_items
        if i.get("kind") == "Pod"
    }
    return {
        "objects": objects,
        "claims": claims,
        "pods": pods,
        "helmRevisions": _helm_revisions(live_items),
    }


def verify(
    before: Manifest, after: Manifest, recreated: Iterable[str] = ()
) -> tuple[list[Problem], list[str]]:
    """Problems (the adoption went wrong) and notes (what rolled or was replaced, as planned).
    `recreated`: objects (`StatefulSet/<name>`) replaced on purpose with --cascade=orphan."""
    planned = set(recreated)
    problems: list[Problem] = []
    notes: list[str] = []
    for key, was in before["objects"].items():
        now = after["objects"].get(key)
        kind = key.split("/", 1)[0]
        if now is None:
            problems.append(Problem(key, "is gone", "restore it from the backup"))
            continue
        if now["uid"] != was["uid"]:
            if kind == "Job":
                notes.append(f"{key} was re-created (idempotent KV bucket Job, planned)")
            elif key in planned:
                notes.append(f"{key} was re-created without its pods (--recreate, planned)")
            else:
                problems.append(
                    Problem(key, "was deleted and re-created", "investigate the pulumi up log")
                )
        if was.get("clusterIP") and now.get("clusterIP") != was["clusterIP"]:
            problems.append(
                Problem(
                    key,
                    f"cluster IP changed {was['clusterIP']} -> {now.get('clusterIP')}",
                    "clients using the IP must re-resolve",
                )
            )
        if now.get("managedBy") != "pulumi" and kind != "Job":
            problems.append(
                Problem(
                    key,
                    f"is labelled managed-by {now.get('managedBy')!r}",
                    "run pulumi up with adoptExisting: true",
                )
            )
    for name, was in before["claims"].items():
        now = after["claims"].get(name)
        if now is None or now["uid"] != was["uid"] or now["volume"] != was["volume"]:
            problems.append(
                Problem(
                    f"PersistentVolumeClaim {name}",
                    "was deleted or re-created",
                    "restore the data from the volume (it is retained) or the backup",
                )
            )
    replaced = 0
    for name, was in before["pods"].items():
        now = after["pods"].get(name)
        if now is None or now["uid"] != was["uid"]:
            replaced += 1
            continue
        for container, count in now["restarts"].items():
            old = was["restarts"].get(container, 0)
            if count > old:
                problems.append(
                    Problem(
                        f"Pod {name}",
                        f"container {container!r} restarted ({old} -> {count})",
                        "read `kubectl logs --previous` for why",
                    )
                )
    if replaced:
        notes.append(f"{replaced} pod(s) replaced by rolling updates (their templates changed)")
    if after["helmRevisions"]:
        problems.append(
            Problem(
                f"Helm release {RELEASE}",
                f"is still recorded (revisions {after['helmRevisions']})",
                f"delete its release secrets, e.g. `kubectl delete secret {HELM_SECRET}`",
            )
        )
    return problems, notes


# --------------------------------------------------------------------------------------------
# The cluster, read only.

Runner = Callable[[list[str]], str]


def run_kubectl(args: list[str]) -> str:
    return subprocess.run(args, check=True, capture_output=True, text=True).stdout


def fetch_live(context: str, namespace: str, run: Runner = run_kubectl) -> list[Manifest]:
    base = ["kubectl", "--context", context, "--namespace", namespace, "get"]
    items = list(json.loads(run([*base, LIVE_KINDS, "--output", "json"])).get("items") or [])
    secrets = json.loads(
        run([*base, "secrets", "--selector", f"owner=helm,name={RELEASE}", "--output", "json"])
    )
    # Only the names of Helm's release records are kept, never their data.
    for secret in secrets.get("items") or []:
        items.append({"kind": "Secret", "metadata": {"name": dig(secret, "metadata", "name")}})
    return items


def read_live(path: Path) -> list[Manifest]:
    document = json.loads(path.read_text())
    return list(document.get("items") or []) if isinstance(document, dict) else list(document)


@dataclass(frozen=True)
class Target:
    context: str
    namespace: str
    recording: Recording


def target(stack: str) -> Target:
    values = project_values({k: engine_value(v) for k, v in stack_config(stack).items()})
    settings = load_settings(values)
    return Target(settings.kube_context, settings.namespace, run_stack(stack))


def main(argv: list[str] | None = None, run: Runner = run_kubectl) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["check", "snapshot", "verify"])
    parser.add_argument(
        "--stack", default=ADOPT_STACK, help="the stack that adopts the release (Pulumi.adopt.yaml)"
    )
    parser.add_argument("--live", type=Path, help="a saved `kubectl get -o json` list")
    parser.add_argument("--out", type=Path, help="snapshot: where to write it")
    parser.add_argument("--before", type=Path, help="verify: the snapshot taken before")
    parser.add_argument(
        "--recreate",
        action="append",
        default=[],
        metavar="StatefulSet/NAME",
        help="a StatefulSet replaced without its pods (--cascade=orphan); see docs/adoption.md",
    )
    options = parser.parse_args(argv)
    try:
        where = target(options.stack)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    try:
        live = (
            read_live(options.live)
            if options.live
            else fetch_live(where.context, where.namespace, run)
        )
    except (OSError, subprocess.CalledProcessError, json.JSONDecodeError) as error:
        print(f"error: cannot read the cluster: {error}", file=sys.stderr)
        return 2

    if options.command == "check":
        problems = check(
            live,
            desired_objects(where.recording, where.namespace),
            where.namespace,
            recreate=options.recreate,
        )
        blocking = [p for p in problems if p.blocking]
        for problem in problems:
            prefix = "error" if problem.blocking else "step"
            print(f"{prefix}: {problem.message()}", file=sys.stderr if problem.blocking else None)
        if blocking:
            print(f"adoption check FAILED: {len(blocking)} problem(s); nothing was changed")
            return 1
        print(f"adoption check passed: all {len(SEED_000)} seed 000 objects are in place")
        return 0
    if options.command == "snapshot":
        if options.out is None:
            parser.error("snapshot needs --out")
        options.out.write_text(json.dumps(snapshot(live), indent=2, sort_keys=True) + "\n")
        print(f"snapshot written to {options.out}")
        return 0
    if options.before is None:
        parser.error("verify needs --before")
    problems, notes = verify(
        json.loads(options.before.read_text()), snapshot(live), options.recreate
    )
    for note in notes:
        print(f"note: {note}")
    for problem in problems:
        print(f"error: {problem.message()}", file=sys.stderr)
    print("adoption verify " + ("FAILED" if problems else "passed"))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
