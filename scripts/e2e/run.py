"""The end-to-end run of one stack with the real Pulumi engine (called by scripts/e2e.sh).

The Pulumi CLI and the Kubernetes provider are the binaries scripts/e2e-tools.sh built; the
program runs in-process through the Automation API (`pulumi up --client`), because the Python
language host is not published as a Go module here. The state is a local file backend and the
stack files a scratch copy, so nothing tracked changes. Each Pulumi operation runs in a fresh
process (`run.py op ...`), as it would from the CLI.

    run.py stack dev|staging|prod --work DIR [--bench]    every step; one line each, then a summary
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]

PROJECT = "trading-platform"
# Settings the e2e adds to each stack: chart repositories are unreachable here and KWOK runs no
# admission webhooks, so the Helm-installed add-ons are off (their CRDs are preloaded), as on a
# cluster that already runs them: its monitoring namespace exists (MONITORING_NAMESPACE).
E2E_SETTINGS: dict[str, dict[str, Any]] = {
    "dev": {"observability": {"install": False}},
    "prod": {"observability": {"install": False}, "mesh": {"install": False}},
    "staging": {"observability": {"install": False}, "mesh": {"install": False}},
}
MONITORING_NAMESPACE = "monitoring"
# With the mesh on and its charts off, the cluster's Istio gateway runs in this namespace: the
# gateway's Certificate and rate limit are declared there.
GATEWAY_NAMESPACE = "istio-ingress"
# A routine change: an image tag, a replica count and a resource size (production's engine keeps
# Guaranteed QoS, so its request moves with its limit).
ROUTINE_CHANGE: dict[str, dict[str, Any]] = {
    "dev": {
        "engine": {"image": "hft-engine:0.1.1", "resources": {"cpuLimit": "1500m"}},
        "ui": {"monitorUi": {"replicas": 2}},
    },
    "prod": {
        "engine": {
            # Production pulls application images from its registry (Pulumi.prod.yaml's).
            "image": "ghcr.io/dicky1987/eafix-modular/hft-engine:0.1.1",
            "resources": {"memoryRequest": "3Gi", "memoryLimit": "3Gi"},
        },
        "ui": {"monitorUi": {"replicas": 2}},
    },
}
ROUTINE_CHANGE["staging"] = ROUTINE_CHANGE["prod"]  # production sizing
# In production a larger NATS volume would replace the StatefulSet (claim templates are immutable).
PROTECTED_REPLACEMENT: dict[str, Any] = {"messageBus": {"storage": {"size": "20Gi"}}}
# Operations that mean an object is created again rather than changed in place.
REPLACING = {"replace", "create-replacement", "delete-replaced", "create-before-replace"}


# --- one Pulumi operation, in its own process ------------------------------------------------


def operation(op: str, stack_name: str, scratch: Path) -> dict[str, Any]:
    from pulumi import automation as auto

    sys.path.insert(0, str(scratch))
    os.chdir(scratch)

    def program() -> None:
        from stacks.config import load_from_engine
        from stacks.platform import deploy

        deploy(load_from_engine())

    stack = auto.create_or_select_stack(
        stack_name,
        project_name=PROJECT,
        program=program,
        opts=auto.LocalWorkspaceOptions(work_dir=str(scratch)),
    )
    steps: list[dict[str, Any]] = []
    # When each resource's step started and finished (seconds into the operation): the timeline
    # the benchmark reads to find what serialises an update.
    timeline: dict[str, list[float]] = {}
    started = time.monotonic()

    def on_event(event: auto.EngineEvent) -> None:
        now = round(time.monotonic() - started, 2)
        pre = event.resource_pre_event
        if pre is not None:
            timeline[pre.metadata.urn] = [now, now]
            if pre.metadata.op.value not in ("same", "read"):
                steps.append({"op": pre.metadata.op.value, "urn": pre.metadata.urn})
        done = event.res_outputs_event
        if done is not None and done.metadata.urn in timeline:
            timeline[done.metadata.urn][1] = now

    log = scratch / f"pulumi-{op}.log"
    result: dict[str, Any] = {"op": op, "ok": True, "steps": steps, "log": str(log)}
    with log.open("a") as out:
        out.write(f"\n===== {op} {time.strftime('%H:%M:%S')}\n")
        common: dict[str, Any] = {
            "on_output": lambda line: out.write(line + "\n"),
            "color": "never",
        }
        try:
            if op == "up":
                up = stack.up(on_event=on_event, **common)
                result["changes"] = up.summary.resource_changes or {}
            elif op in ("preview", "preview-no-changes", "preview-policy"):
                preview = stack.preview(
                    on_event=on_event,
                    expect_no_changes=op == "preview-no-changes" or None,
                    policy_packs=[policy_pack(scratch)] if op == "preview-policy" else None,
                    **common,
                )
                result["changes"] = preview.change_summary
            elif op == "destroy":
                destroy = stack.destroy(on_event=on_event, **common)
                result["changes"] = destroy.summary.resource_changes or {}
            elif op == "unprotect":
                stack.workspace.pulumi_command.run(
                    ["state", "unprotect", "--all", "--yes", "--stack", stack_name],
                    str(scratch),
                    {},
                )
            else:
                raise SystemExit(f"unknown operation {op}")
        except auto.errors.CommandError as error:
            result["ok"] = False
            result["error"] = str(error)[-4000:]
            # Looked for in the whole output: other errors (the engine shutting the program
            # down) may follow it by more than the tail kept above.
            result["protection"] = protection_refusal(str(error))
    result["seconds"] = round(time.monotonic() - started, 1)
    first = scratch / f"timeline-{op}.json"  # the first of each (up: from empty)
    if not first.exists():
        first.write_text(json.dumps(timeline, indent=1))
    return result


def policy_pack(scratch: Path) -> str:
    """The pack's folder, or with no Python language host (E2E_POLICY_RUNNER set) its runner."""
    if os.environ.get("E2E_POLICY_RUNNER"):
        return str(scratch / "scripts" / "e2e" / "run-policy-pack")
    return str(scratch / "policy")


# --- the steps of a stack -----------------------------------------------------------------------


@dataclass
class Run:
    stack: str
    work: Path
    scratch: Path
    results: list[tuple[str, bool, str]] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    def pulumi(self, op: str) -> dict[str, Any]:
        command = [sys.executable, __file__, "op", op, self.stack, "--scratch", str(self.scratch)]
        completed = subprocess.run(command, capture_output=True, text=True, check=False)
        last = completed.stdout.strip().splitlines()[-1:] or ["{}"]
        try:
            result: dict[str, Any] = json.loads(last[0])
        except json.JSONDecodeError:
            result = {"ok": False, "error": completed.stderr[-4000:] or completed.stdout[-4000:]}
        result.setdefault("steps", [])
        return result

    def kubectl(self, *args: str, check: bool = True) -> str:
        completed = subprocess.run(
            [os.environ["KUBECTL"], *args], capture_output=True, text=True, check=False
        )
        if check and completed.returncode != 0:
            raise StepError(f"kubectl {' '.join(args)}: {completed.stderr.strip()}")
        return completed.stdout

    def objects(self, kind: str, namespace: str | None = None) -> list[dict[str, Any]]:
        scope = ["-n", namespace] if namespace else ["-A"]
        items: list[dict[str, Any]] = json.loads(self.kubectl("get", kind, *scope, "-o", "json"))[
            "items"
        ]
        return items

    def step(self, name: str, check: Callable[[], str]) -> bool:
        started = time.monotonic()
        try:
            detail = check()
            ok = True
        except StepError as failure:
            detail, ok = str(failure), False
        seconds = time.monotonic() - started
        self.results.append((name, ok, detail))
        status = "ok  " if ok else "FAIL"
        print(f"[e2e {self.stack}] {status} {name} ({seconds:.0f}s): {detail}", flush=True)
        return ok

    @property
    def namespace(self) -> str:
        return str(self.config()["config"][f"{PROJECT}:namespace"])

    @property
    def release(self) -> str:
        return str(self.config()["config"][f"{PROJECT}:release"])

    def config(self) -> dict[str, Any]:
        loaded: dict[str, Any] = yaml.safe_load(self.stack_file.read_text())
        return loaded

    @property
    def stack_file(self) -> Path:
        return self.scratch / f"Pulumi.{self.stack}.yaml"

    def configure(self, settings: dict[str, Any]) -> None:
        """Deep-merge object-valued settings into the scratch stack file, as the loader does."""
        from stacks.config import deep_merge

        document = self.config()
        values = document["config"]
        for key, value in settings.items():
            name = f"{PROJECT}:{key}"
            values[name] = deep_merge(values.get(name) or {}, value)
        self.stack_file.write_text(yaml.safe_dump(document, sort_keys=False))


class StepError(Exception):
    pass


def require(ok: bool, message: str) -> None:
    if not ok:
        raise StepError(message)


def protection_refusal(output: str) -> str | None:
    """The engine's refusal to replace or delete a protected resource, if `output` holds one:
    the `error:` line naming the resource, joined with the reason that follows it."""
    reasons = ("currently marked for protection", "because it is protected")
    lines = [line.strip() for line in output.splitlines()]
    for i, line in enumerate(lines):
        if any(reason in line for reason in reasons):
            head = lines[i - 1] if i and lines[i - 1].startswith("error:") else ""
            return f"{head} {line}".strip()
    return None


def failed(result: dict[str, Any]) -> str:
    error = str(result.get("error", "")).strip().splitlines()
    interesting = [line for line in error if "error" in line.lower()] or error
    return " | ".join(interesting[-6:])[-1500:]


def replaced(result: dict[str, Any]) -> list[str]:
    return [
        f"{s['op']} {s['urn'].split('::')[-1]}" for s in result["steps"] if s["op"] in REPLACING
    ]


def scratch_copy(work: Path, stack: str) -> Path:
    """The repository's files (tracked, and new ones git does not ignore), as they are."""
    scratch = work / f"scratch-{stack}"
    if scratch.exists():
        shutil.rmtree(scratch)
    files = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\0")
    for name in filter(None, files):
        source = ROOT / name
        if source.is_file():
            target = scratch / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    return scratch


# --- checks on the cluster ----------------------------------------------------------------------


def converged(run: Run) -> str:
    """Every Deployment available, StatefulSet ready, Job complete and claim bound."""
    namespace = run.namespace
    problems: list[str] = []
    deployments = run.objects("deployments", namespace)
    for d in deployments:
        status, want = d.get("status", {}), d["spec"].get("replicas", 1)
        if status.get("availableReplicas", 0) < want or status.get("updatedReplicas", 0) < want:
            problems.append(
                f"deployment/{d['metadata']['name']} {status.get('availableReplicas', 0)}/{want}"
            )
    statefulsets = run.objects("statefulsets", namespace)
    for s in statefulsets:
        status, want = s.get("status", {}), s["spec"].get("replicas", 1)
        if status.get("readyReplicas", 0) < want:
            problems.append(
                f"statefulset/{s['metadata']['name']} {status.get('readyReplicas', 0)}/{want}"
            )
    jobs = run.objects("jobs", namespace)
    for j in jobs:
        conditions = {c["type"]: c["status"] for c in j.get("status", {}).get("conditions", [])}
        if conditions.get("Complete") != "True":
            problems.append(f"job/{j['metadata']['name']} not complete")
    claims = run.objects("persistentvolumeclaims", namespace)
    for c in claims:
        if c.get("status", {}).get("phase") != "Bound":
            problems.append(f"pvc/{c['metadata']['name']} {c.get('status', {}).get('phase')}")
    require(not problems, "not converged: " + ", ".join(problems))
    require(bool(deployments or statefulsets), f"no workloads in namespace {namespace}")
    return (
        f"{len(deployments)} deployments available, {len(statefulsets)} statefulsets ready, "
        f"{len(jobs)} jobs complete, {len(claims)} claims bound"
    )


def uids(run: Run) -> dict[str, str]:
    found: dict[str, str] = {}
    for kind in ("deployments", "statefulsets", "services", "persistentvolumeclaims", "secrets"):
        for item in run.objects(kind, run.namespace):
            found[f"{kind}/{item['metadata']['name']}"] = item["metadata"]["uid"]
    return found


def leftovers(run: Run) -> list[str]:
    """Objects of the release still in the cluster (any namespace, any kind we create)."""
    kinds = (
        "deployments,statefulsets,jobs,cronjobs,services,configmaps,secrets,serviceaccounts,"
        "persistentvolumeclaims,poddisruptionbudgets,horizontalpodautoscalers,networkpolicies,"
        "podmonitors,prometheusrules,resourcequotas,limitranges"
    )
    out = run.kubectl(
        "get", kinds, "-A", "-l", f"app.kubernetes.io/instance={run.release}", "-o", "name"
    )
    names = [line for line in out.splitlines() if line]
    namespace = run.kubectl("get", "namespace", run.namespace, "-o", "name", check=False).strip()
    return names + ([namespace] if namespace else [])


# --- the run ------------------------------------------------------------------------------------


def run_stack(run: Run, bench: bool) -> None:
    run.configure(E2E_SETTINGS[run.stack])
    run.kubectl("create", "namespace", MONITORING_NAMESPACE)
    if "mesh" in E2E_SETTINGS[run.stack]:
        run.kubectl("create", "namespace", GATEWAY_NAMESPACE)
    if bench:
        kubectl_baseline(run)

    first = run.pulumi("up")
    run.timings["pulumi up"] = first.get("seconds", 0)

    def up_from_empty() -> str:
        require(first["ok"], "pulumi up failed: " + failed(first))
        created = first.get("changes", {}).get("create", 0)
        require(created > 0, f"pulumi up created nothing: {first.get('changes')}")
        return f"{created} resources created in {first['seconds']}s; " + converged(run)

    if not run.step("up converges from an empty cluster", up_from_empty):
        return

    def no_changes() -> str:
        result = run.pulumi("preview-no-changes")
        run.timings["pulumi preview (no change)"] = result.get("seconds", 0)
        require(
            result["ok"],
            "changes planned right after up: " + failed(result) + f" {result['steps'][:10]}",
        )
        return f"no changes planned ({result['seconds']}s)"

    run.step("preview --expect-no-changes", no_changes)

    def policy() -> str:
        result = run.pulumi("preview-policy")
        require(result["ok"], "preview with the policy pack failed: " + failed(result))
        log = Path(result["log"]).read_text()
        passed = re.search(r"^Policies:\n\s+(?:✅|⚠️) (\S+)", log, re.MULTILINE)
        require(
            passed is not None, "the preview reported no policy pack without mandatory violations"
        )
        assert passed is not None
        return f"policy pack {passed.group(1)} passed in a real preview ({result['seconds']}s)"

    run.step("policy pack in a real preview", policy)

    def routine_change() -> str:
        before = uids(run)
        change = ROUTINE_CHANGE[run.stack]
        run.configure(change)
        preview = run.pulumi("preview")
        require(preview["ok"], "preview of the routine change failed: " + failed(preview))
        require(not replaced(preview), f"the routine change would replace: {replaced(preview)}")
        updates = [s for s in preview["steps"] if s["op"] == "update"]
        require(bool(updates), f"the routine change planned no update: {preview['steps']}")
        applied = run.pulumi("up")
        require(applied["ok"], "applying the routine change failed: " + failed(applied))
        require(not replaced(applied), f"the routine change replaced: {replaced(applied)}")
        after = uids(run)
        recreated = sorted(k for k, uid in before.items() if after.get(k) not in (None, uid))
        require(not recreated, f"objects recreated by the routine change: {recreated}")
        engine = run.objects("deployments", run.namespace)
        images = {c["image"] for d in engine for c in d["spec"]["template"]["spec"]["containers"]}
        require(change["engine"]["image"] in images, "the new engine image was not applied")
        again = run.pulumi("preview-no-changes")
        require(again["ok"], "changes planned after the routine change: " + failed(again))
        return f"{len(updates)} in-place updates, nothing replaced; " + converged(run)

    run.step("routine change updates in place", routine_change)

    if run.config()["config"][f"{PROJECT}:profile"] == "production":

        def protected_replacement() -> str:
            before = uids(run)
            run.configure(PROTECTED_REPLACEMENT)
            result = run.pulumi("up")
            run.configure({"messageBus": {"storage": {"size": "10Gi"}}})
            require(not result["ok"], "a replacement of a protected StatefulSet was applied")
            refusal = result.get("protection")
            require(refusal is not None, "refused, but not for protection: " + failed(result))
            after = uids(run)
            require(before == after, "objects changed although the update was refused")
            return f"refused: {refusal}"[:240]

        run.step("protected data resource refuses replacement", protected_replacement)

        def destroy_refused() -> str:
            before = uids(run)
            result = run.pulumi("destroy")
            require(not result["ok"], "pulumi destroy of a production-sized stack succeeded")
            require(
                result.get("protection") is not None,
                "refused, but not for protection: " + failed(result),
            )
            deleted = sorted(set(before) - set(uids(run)))
            require(
                not deleted, f"the refused destroy deleted {len(deleted)} objects: {deleted[:8]}"
            )
            return f"refused before touching anything ({len(before)} objects kept)"

        run.step("destroy is refused (protected data)", destroy_refused)
        # Clean-up: unprotect and destroy; retained objects (retainOnDelete) stay in the cluster.
        run.pulumi("unprotect")
        final = run.pulumi("destroy")
        run.timings["pulumi destroy (unprotected)"] = final.get("seconds", 0)

        def retained() -> str:
            require(final["ok"], "destroy after unprotect failed: " + failed(final))
            kept = leftovers(run)
            require(any("statefulset" in k for k in kept), "retainOnDelete kept no StatefulSet")
            return (
                f"after unprotect, destroy leaves {len(kept)} retained objects (data and identity)"
            )

        run.step("destroy keeps retained data", retained)
    else:

        def destroy() -> str:
            result = run.pulumi("destroy")
            run.timings["pulumi destroy"] = result.get("seconds", 0)
            require(result["ok"], "pulumi destroy failed: " + failed(result))
            left: list[str] = []
            for _ in range(60):
                left = leftovers(run)
                if not left:
                    break
                time.sleep(2)
            require(not left, f"left behind: {left[:10]}")
            return f"nothing of the release left ({result['seconds']}s)"

        run.step("destroy leaves nothing behind", destroy)


# --- benchmark: kubectl on the same objects -----------------------------------------------------


def rendered_objects(run: Run) -> Iterator[tuple[str, Path]]:
    out = run.work / f"render-{run.stack}"
    env = {**os.environ, "PYTHONPATH": str(run.scratch)}
    subprocess.run(
        [sys.executable, "-m", "tools.render", "--stack", run.stack, "--out", str(out)],
        cwd=run.scratch,
        env=env,
        capture_output=True,
        check=False,
    )
    for path in sorted(out.rglob("*.yaml")):
        body = yaml.safe_load(path.read_text())
        if isinstance(body, dict) and "apiVersion" in body and "kind" in body:
            yield body["kind"], path


def kubectl_baseline(run: Run) -> None:
    """kubectl apply --server-side of the offline render until the same rollouts finish, and
    kubectl diff --server-side of it; then the namespace goes again."""
    objects = list(rendered_objects(run))
    namespaces = [str(p) for kind, p in objects if kind == "Namespace"]
    rest = [str(p) for kind, p in objects if kind != "Namespace"]
    manager = ["--server-side", "--field-manager=e2e-baseline", "--force-conflicts"]
    started = time.monotonic()
    for group in (namespaces, rest):
        args: list[str] = []
        for path in group:
            args += ["-f", path]
        run.kubectl("apply", *manager, *args)
    ns = run.namespace
    for kind in ("deployment", "statefulset"):
        for name in run.kubectl("get", kind, "-n", ns, "-o", "name").split():
            run.kubectl("rollout", "status", "-n", ns, name, "--timeout=600s")
    if run.kubectl("get", "jobs", "-n", ns, "-o", "name").strip():
        run.kubectl("wait", "--for=condition=complete", "job", "--all", "-n", ns, "--timeout=600s")
    run.timings["kubectl apply + rollouts"] = round(time.monotonic() - started, 1)
    started = time.monotonic()
    args = []
    for path in rest:
        args += ["-f", path]
    run.kubectl(
        "diff",
        "--server-side",
        "--field-manager=e2e-baseline",
        "--force-conflicts",
        *args,
        check=False,
    )
    run.timings["kubectl diff"] = round(time.monotonic() - started, 1)
    run.kubectl("delete", "namespace", ns, "--wait=true", "--timeout=600s")


def main() -> int:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    op = sub.add_parser("op")
    op.add_argument("op")
    op.add_argument("stack")
    op.add_argument("--scratch", type=Path, required=True)
    stack = sub.add_parser("stack")
    stack.add_argument("stack", choices=sorted(E2E_SETTINGS))
    stack.add_argument("--work", type=Path, required=True)
    stack.add_argument("--bench", action="store_true")
    args = parser.parse_args()
    if args.command == "op":
        print(json.dumps(operation(args.op, args.stack, args.scratch)))
        return 0
    sys.path.insert(0, str(ROOT))
    run = Run(args.stack, args.work, scratch_copy(args.work, args.stack))
    run_stack(run, args.bench)
    passed = sum(ok for _, ok, _ in run.results)
    report = {"stack": run.stack, "results": run.results, "timings": run.timings}
    (args.work / f"result-{run.stack}.json").write_text(json.dumps(report, indent=2))
    print(f"[e2e {run.stack}] {passed} of {len(run.results)} steps passed; timings {run.timings}")
    return 0 if run.results and passed == len(run.results) else 1


if __name__ == "__main__":
    sys.exit(main())
