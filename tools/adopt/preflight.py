"""The pre-flight check: what must hold before `pulumi up` adopts the release (seed 000's objects
present and declared, immutable fields equal, Services keeping endpoints, Job done, claims Bound,
Helm revision unchanged, room in the quota)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from tools.adopt.manifests import _bytes, _helm_revisions, dig, index, pod_template_labels
from tools.adopt.model import HELM_REVISION, RELEASE, SEED_000, Manifest, Problem, SeedObject
from tools.adopt.resources import _check_resources, _quota_problems


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


CLAIM_FIX = (
    "make the stack declare the live value (the adopt stack declares seed 000's 10Gi `standard` "
    "volumes: messageBus.storage.size and messageBus.storage.storageClass); what config cannot "
    "align, re-run with --recreate {key} to replace only the StatefulSet object "
    "(docs/adoption.md)"
)
RECREATE_STEP = (
    "after the snapshot, `kubectl delete statefulset {name} --cascade=orphan`: its pods and "
    "volume claims stay, and the StatefulSet Pulumi creates adopts them by their selector"
)


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
