"""Adopting seed 000's live `aegis-trader` Helm release in place (docs/adoption.md).

The adoption stack (Pulumi.adopt.yaml) keeps every value seed 000 says must be preserved: names,
ports, selectors, init logic and the tested resources, claims and images; the plain dev stack
declares the same objects within the local budget. The pre-flight check, fed a fake `kubectl get`
result, passes on a cluster that matches and stops naming the object when one is missing or
incompatible (the dev stack's smaller sizes included); the verification catches a re-created
volume claim or a restarted container; `adoptExisting` reaches the provider.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from components.quantities import parse_bytes, parse_cpu
from stacks.config import load_settings, project_values
from tests.helpers import container, env_of, manifest, pod_spec
from tools import adopt as adoption
from tools import render
from tools.adopt import SEED_000, SeedObject
from tools.offline import Recording, engine_value, run_stack, stack_config
from tools.summary import totals

NAMESPACE = "aegis-trader"


# --------------------------------------------------------------------------------------------
# Both the adoption stack and the dev stack declare seed 000's objects (one case per object).


@pytest.mark.parametrize("stack_name", ["adopt", "dev"])
@pytest.mark.parametrize("obj", SEED_000, ids=lambda o: f"{o.kind}-{o.name}")
def test_stack_declares_seed_000_object(
    request: pytest.FixtureRequest, stack_name: str, obj: SeedObject
) -> None:
    recording: Recording = request.getfixturevalue(stack_name)
    found = [r for r in recording.of_kind(obj.kind) if r.object_name == obj.name]
    assert found, f"{stack_name} declares no {obj.kind} {obj.name} (seed 000; the {obj.tier} tier)"
    body = found[0].manifest()
    assert body["metadata"]["namespace"] == NAMESPACE
    spec = body["spec"]
    if obj.kind == "Service":
        assert spec["selector"] == obj.selector
        assert set(obj.ports) <= {p["port"] for p in spec["ports"]}
    elif obj.kind == "Job":
        assert spec["template"]["metadata"]["labels"] == obj.selector
    else:
        assert spec["selector"] == {"matchLabels": obj.selector}
        assert spec["template"]["metadata"]["labels"] == obj.selector


def test_seed_000_inventory_is_complete() -> None:
    listed = {(o.kind, o.name) for o in SEED_000}
    assert listed == {
        ("StatefulSet", "aegis-trader-nats"),
        ("Service", "aegis-trader-nats"),
        ("Service", "aegis-trader-nats-headless"),
        ("Deployment", "aegis-trader-monitor-api"),
        ("Service", "aegis-trader-monitor-api"),
        ("Deployment", "aegis-trader-monitor-ui"),
        ("Service", "aegis-trader-monitor-ui"),
        ("Deployment", "aegis-trader-nats-box"),
        ("Job", "aegis-trader-create-kv-bucket"),
    }
    ports = {(o.kind, o.name): o.ports for o in SEED_000}
    assert ports[("Service", "aegis-trader-nats")] == (4222,)
    assert ports[("Service", "aegis-trader-monitor-api")] == (8100,)
    assert ports[("Service", "aegis-trader-monitor-ui")] == (3100,)


# --------------------------------------------------------------------------------------------
# The adoption stack keeps every value seed 000 lists; dev stays within the local budget.

NATS, API, UI = "aegis-trader-nats", "aegis-trader-monitor-api", "aegis-trader-monitor-ui"
# Seed 000, "Deployed Resources" (requests / limits as listed there).
SEED_000_RESOURCES = {
    (NATS, "nats"): {"requests": ("1", "4Gi"), "limits": ("2", "8Gi")},
    (API, "monitor-api"): {"requests": ("1", "2Gi"), "limits": ("1", "2Gi")},
    (UI, "monitor-ui"): {"requests": ("500m", "1Gi"), "limits": ("500m", "1Gi")},
}


def same_quantities(resources: dict[str, Any], expected: dict[str, tuple[str, str]]) -> bool:
    return all(
        parse_cpu(resources[field]["cpu"]) == parse_cpu(cpu)
        and parse_bytes(resources[field]["memory"]) == parse_bytes(memory)
        for field, (cpu, memory) in expected.items()
    )


def test_adoption_stack_keeps_every_seed_000_value(adopt: Recording) -> None:
    # NATS: 3 replicas of nats:2.11.6-alpine, CPU 1/2, memory 4Gi/8Gi, GOMEMLIMIT 7GiB, ports
    # 4222/6222/8222, 10Gi `standard` claims mounted at /data, pulled IfNotPresent.
    sts = manifest(adopt, "StatefulSet", NATS)
    assert sts["spec"]["replicas"] == 3
    assert sts["spec"]["serviceName"] == f"{NATS}-headless"
    nats = container(adopt, "StatefulSet", NATS, "nats")
    assert nats["image"] == "nats:2.11.6-alpine"
    assert nats["imagePullPolicy"] == "IfNotPresent"
    assert env_of(nats)["GOMEMLIMIT"] == "7GiB"
    assert {p["containerPort"] for p in nats["ports"]} >= {4222, 6222, 8222}
    ((claim,),) = [sts["spec"]["volumeClaimTemplates"]]
    assert claim["metadata"]["name"] == "data"
    assert claim["spec"]["resources"]["requests"]["storage"] == "10Gi"
    assert claim["spec"]["storageClassName"] == "standard"
    assert {"name": "data", "mountPath": "/data"} in nats["volumeMounts"]
    # Every listed size, read back from the objects.
    for (name, main), expected in SEED_000_RESOURCES.items():
        kind = "StatefulSet" if name == NATS else "Deployment"
        resources = container(adopt, kind, name, main)["resources"]
        assert same_quantities(resources, expected), f"{name}: {resources}"
    # Monitor API: 1 replica on 8100, seed 000's ConfigMap and image, waits for NATS (busybox).
    assert manifest(adopt, "Deployment", API)["spec"]["replicas"] == 1
    assert manifest(adopt, "ConfigMap", API)["data"] == {
        "API_PORT": "8100",
        "NATS_URL": "nats://aegis-trader-nats:4222",
        "NATS_KV_BUCKET": "service_registry",
    }
    assert container(adopt, "Deployment", API, "monitor-api")["image"] == (
        "aegistrader-monitor-api:20250803-151359"
    )
    # Seed 000's wait-for-nats first and unchanged; then the wait for the KV bucket itself
    # (seed 000: "KV store must be initialized before services can register").
    wait, bucket_wait = pod_spec(adopt, "Deployment", API)["initContainers"]
    assert (wait["name"], wait["image"]) == ("wait-for-nats", "busybox:1.36")
    assert "aegis-trader-nats 4222" in wait["command"][-1]
    assert bucket_wait["name"] == "wait-for-kv-bucket"
    # Monitor UI: 1 replica on 3100, PORT and NEXT_PUBLIC_API_URL, waits for the API.
    assert manifest(adopt, "Deployment", UI)["spec"]["replicas"] == 1
    ui_config = manifest(adopt, "ConfigMap", UI)["data"]
    assert ui_config["PORT"] == "3100" and ui_config["NEXT_PUBLIC_API_URL"]
    assert container(adopt, "Deployment", UI, "monitor-ui")["image"] == (
        "aegistrader-monitor-ui:20250803-151359"
    )
    (wait,) = pod_spec(adopt, "Deployment", UI)["initContainers"]
    assert (wait["name"], wait["image"]) == ("wait-for-api", "busybox:1.36")
    assert "aegis-trader-monitor-api 8100" in wait["command"][-1]
    # All ClusterIP, no external exposure.
    for name in (NATS, API, UI):
        assert manifest(adopt, "Service", name)["spec"].get("type", "ClusterIP") == "ClusterIP"


def test_adoption_stack_adds_up_to_seed_000s_summary(adopt: Recording) -> None:
    """Seed 000's "Resource Allocation Summary": CPU requests NATS 3, API 1, UI 0.5; memory NATS
    12Gi, API 2Gi, UI 1Gi (15Gi); storage 30Gi (3 x 10Gi). The seed's CPU total says 3.5 cores,
    but its own parts add up to 4.5: the per-object sizes (and the parts) are the reading kept."""
    summary = {NATS: ("3", "12Gi"), API: ("1", "2Gi"), UI: ("500m", "1Gi")}
    for (name, main), (cpu, memory) in zip(SEED_000_RESOURCES, summary.values(), strict=True):
        kind = "StatefulSet" if name == NATS else "Deployment"
        replicas = manifest(adopt, kind, name)["spec"]["replicas"]
        requests = container(adopt, kind, name, main)["resources"]["requests"]
        assert replicas * parse_cpu(requests["cpu"]) == parse_cpu(cpu), name
        assert replicas * parse_bytes(requests["memory"]) == parse_bytes(memory), name
    sts = manifest(adopt, "StatefulSet", NATS)
    claim = sts["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"]
    assert sts["spec"]["replicas"] * parse_bytes(claim) == parse_bytes("30Gi")


def test_dev_stays_within_the_local_budget(dev: Recording) -> None:
    """DESIGN: the objects a `local` stack declares request at most 2.5 CPU and 6 GiB, on one
    4-CPU/16-GiB node; dev keeps that budget (the adoption stack has its own, see below)."""
    result = totals(dev)
    assert result.cpu_requests <= parse_cpu("2.5")
    assert result.memory_requests <= parse_bytes("6Gi")
    values = project_values({k: engine_value(v) for k, v in stack_config("dev").items()})
    budget = load_settings(values).cluster.node_budget
    assert budget is not None and (budget.cpu, budget.memory) == ("2.5", "6Gi")
    # Seed 000's tested sizes are the adoption stack's, not dev's.
    nats = container(dev, "StatefulSet", NATS, "nats")["resources"]
    assert not same_quantities(nats, SEED_000_RESOURCES[(NATS, "nats")])


def test_adoption_stack_fits_its_budget_and_quota(adopt: Recording) -> None:
    """Its node already runs the release (4.5 CPU / 15Gi requested); the budget is that plus the
    local budget for the rest, and the namespace quota holds the stack plus a rolling update's
    surge pod (the largest pod template)."""
    result = totals(adopt)
    assert render.over_budget("adopt", result) == []
    assert result.cpu_requests <= parse_cpu("4.5") + parse_cpu("2.5")
    assert result.memory_requests <= parse_bytes("15Gi") + parse_bytes("6Gi")
    (quota,) = adopt.of_kind("ResourceQuota")
    hard = quota.manifest()["spec"]["hard"]
    for field, cpu_total, memory_total in (
        ("requests", result.cpu_requests, result.memory_requests),
        ("limits", result.cpu_limits, result.memory_limits),
    ):
        pods = [
            adoption.pod_resources(r.manifest()["spec"]["template"]["spec"], field)
            for kind in ("Deployment", "StatefulSet")
            for r in adopt.of_kind(kind)
        ]
        surge_cpu, surge_memory = max(p[0] for p in pods), max(p[1] for p in pods)
        assert cpu_total + surge_cpu <= parse_cpu(hard[f"{field}.cpu"])
        assert memory_total + surge_memory <= parse_bytes(hard[f"{field}.memory"])


# --------------------------------------------------------------------------------------------
# A fake cluster: what Helm deployed, built from the adoption stack's objects (which keep seed
# 000's values).


def declared_seed(recording: Recording) -> list[SeedObject]:
    """The seed objects the stack declares today (a tier may still be in progress)."""
    desired = adoption.desired_objects(recording, NAMESPACE)
    return [o for o in SEED_000 if (o.kind, o.name) in desired]


def fake_cluster(recording: Recording, seed: list[SeedObject]) -> list[dict[str, Any]]:
    """What Helm deployed: the objects `recording` declares, as live objects with Helm's label,
    their pods, volume claims and release record."""
    desired = adoption.desired_objects(recording, NAMESPACE)
    items: list[dict[str, Any]] = []
    for n, obj in enumerate(seed):
        body = copy.deepcopy(desired[(obj.kind, obj.name)])
        body["metadata"]["uid"] = f"uid-{obj.kind}-{obj.name}"
        body["metadata"]["labels"]["app.kubernetes.io/managed-by"] = "Helm"
        if obj.kind == "Service" and body["spec"].get("clusterIP") != "None":
            body["spec"]["clusterIP"] = f"10.96.0.{n + 10}"
        if obj.kind == "Job":
            body["status"] = {"succeeded": 1}
        items.append(body)
        if obj.kind in ("Deployment", "StatefulSet"):
            for ordinal in range(body["spec"].get("replicas", 1)):
                pod = f"{obj.name}-{ordinal}"
                containers = body["spec"]["template"]["spec"]["containers"]
                items.append(
                    {
                        "kind": "Pod",
                        "metadata": {"name": pod, "uid": f"uid-pod-{pod}"},
                        "spec": body["spec"]["template"]["spec"],
                        "status": {
                            "phase": "Running",
                            "containerStatuses": [
                                {"name": c["name"], "restartCount": 0} for c in containers
                            ],
                        },
                    }
                )
        for template in body["spec"].get("volumeClaimTemplates", []):
            for ordinal in range(body["spec"]["replicas"]):
                claim = f"{template['metadata']['name']}-{obj.name}-{ordinal}"
                items.append(
                    {
                        "kind": "PersistentVolumeClaim",
                        "metadata": {"name": claim, "uid": f"uid-{claim}"},
                        "spec": {"volumeName": f"pv-{claim}"},
                        "status": {"phase": "Bound"},
                    }
                )
    items.append({"kind": "Secret", "metadata": {"name": adoption.HELM_SECRET}})
    return items


def find(items: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    return next(i for i in items if i["kind"] == kind and i["metadata"]["name"] == name)


@pytest.fixture
def cluster(adopt: Recording) -> tuple[list[dict[str, Any]], list[SeedObject]]:
    seed = declared_seed(adopt)
    assert ("StatefulSet", "aegis-trader-nats") in {(o.kind, o.name) for o in seed}
    return fake_cluster(adopt, seed), seed


def run_check(
    recording: Recording, items: list[dict[str, Any]], seed: list[SeedObject], **kw: Any
) -> list[adoption.Problem]:
    desired = adoption.desired_objects(recording, NAMESPACE)
    return adoption.check(items, desired, NAMESPACE, seed, **kw)


def test_check_passes_on_a_matching_cluster(adopt: Recording, cluster: Any) -> None:
    items, seed = cluster
    assert run_check(adopt, items, seed) == []


def test_check_stops_naming_the_missing_object(adopt: Recording, cluster: Any) -> None:
    items, seed = cluster
    items.remove(find(items, "StatefulSet", "aegis-trader-nats"))
    problems = run_check(adopt, items, seed)
    assert [p.message() for p in problems] == [
        "StatefulSet aegis-trader/aegis-trader-nats: is missing from the cluster (seed 000 lists "
        "it); nothing was changed. Fix: restore it from the backup (`kubectl apply -f "
        "helm-manifest.yaml`) or find out why it is gone before adopting"
    ]


def test_check_stops_when_the_stack_lacks_a_seed_object(adopt: Recording, cluster: Any) -> None:
    items, seed = cluster
    missing = SeedObject("Deployment", "aegis-trader-ghost", "ghost", "ui")
    problems = run_check(adopt, items, [*seed, missing])
    subjects = [p.subject for p in problems]
    assert subjects.count("Deployment aegis-trader/aegis-trader-ghost") == 2
    assert "not declared by the stack (the ui tier)" in problems[-1].problem


def test_check_stops_on_an_immutable_selector_change(adopt: Recording, cluster: Any) -> None:
    items, seed = cluster
    box = find(items, "Deployment", "aegis-trader-nats-box")
    box["spec"]["selector"]["matchLabels"]["app"] = "nats-box"
    (problem,) = run_check(adopt, items, seed)
    assert problem.subject == "Deployment aegis-trader/aegis-trader-nats-box"
    assert problem.problem.startswith("spec.selector is immutable and differs")


def test_the_dev_stack_cannot_adopt_the_release(
    adopt: Recording, dev: Recording, cluster: Any
) -> None:
    """Seed 000's volumes are 10Gi of class standard and its sizes tested; the local profile
    declares 1Gi claims and small pods: the check stops on both, naming the adopt stack."""
    items, seed = cluster
    problems = run_check(dev, items, seed)
    assert all(p.blocking for p in problems)
    claims = [p for p in problems if "spec.volumeClaimTemplates is immutable" in p.problem]
    assert [p.subject for p in claims] == ["StatefulSet aegis-trader/aegis-trader-nats"]
    assert "the adopt stack declares seed 000's 10Gi `standard` volumes" in claims[0].fix
    resized = sorted(p.subject for p in problems if "resources would change" in p.problem)
    assert resized == [
        "Deployment aegis-trader-monitor-api container 'monitor-api'",
        "Deployment aegis-trader-monitor-ui container 'monitor-ui'",
        "StatefulSet aegis-trader-nats container 'nats'",
    ]
    assert all("--stack adopt" in p.fix for p in problems if "resources" in p.problem)
    # The adoption stack declares exactly what runs.
    assert run_check(adopt, items, seed) == []


def test_claim_templates_must_match_or_be_replaced_without_pods(
    adopt: Recording, cluster: Any
) -> None:
    items, seed = cluster
    nats = find(items, "StatefulSet", "aegis-trader-nats")
    claim = nats["spec"]["volumeClaimTemplates"][0]["spec"]
    claim["storageClassName"] = "local-path"
    (problem,) = run_check(adopt, items, seed)
    assert problem.blocking and "spec.volumeClaimTemplates is immutable" in problem.problem
    # The StatefulSet object alone may be replaced, keeping its pods and claims.
    (step,) = run_check(adopt, items, seed, recreate=["StatefulSet/aegis-trader-nats"])
    assert not step.blocking and "--cascade=orphan" in step.fix

    # A different claim name would orphan the data: never accepted.
    nats["spec"]["volumeClaimTemplates"][0]["metadata"]["name"] = "jetstream"
    problems = run_check(adopt, items, seed, recreate=["StatefulSet/aegis-trader-nats"])
    assert any(p.blocking and "volumeClaimTemplates" in p.problem for p in problems)


def test_renamed_container_ports_keep_their_endpoints(adopt: Recording, cluster: Any) -> None:
    """Services target port numbers, so pods whose ports Helm named differently keep serving."""
    items, seed = cluster
    nats = find(items, "StatefulSet", "aegis-trader-nats")
    for c in nats["spec"]["template"]["spec"]["containers"]:
        for port in c.get("ports", []):
            port["name"] = f"tcp-{port['containerPort']}"
    assert run_check(adopt, items, seed) == []


def test_check_stops_when_helm_moved_on(adopt: Recording, cluster: Any) -> None:
    items, seed = cluster
    items.append({"kind": "Secret", "metadata": {"name": f"{adoption.HELM_SECRET_PREFIX}8"}})
    (problem,) = run_check(adopt, items, seed)
    assert problem.subject == "Helm release aegis-trader" and "revision 8" in problem.problem


def test_check_stops_when_the_quota_leaves_no_room(
    adopt: Recording, dev: Recording, cluster: Any
) -> None:
    """Seed 000's pods request 4.5 CPU / 15Gi and are limited to 7.5 CPU / 27Gi; the local
    quota allows requests of 3 CPU / 8Gi and limits of 12 CPU / 16Gi, the adoption stack's
    quota holds them and a surge pod."""
    items, seed = cluster
    items = [i for i in items if i["kind"] != "Pod"]  # the helm-era pods, summed up below
    resources = {
        "requests": {"cpu": "4500m", "memory": "15Gi"},
        "limits": {"cpu": "7500m", "memory": "27Gi"},
    }
    items.append(
        {
            "kind": "Pod",
            "metadata": {"name": "helm-era-pods"},
            "spec": {"containers": [{"resources": resources}]},
            "status": {"phase": "Running"},
        }
    )
    assert run_check(adopt, items, seed) == []
    problems = [p for p in run_check(dev, items, seed) if p.subject == "ResourceQuota"]
    fixes = " ".join(p.fix for p in problems)
    for key in ("requestsCpu", "requestsMemory", "limitsMemory"):
        assert f"cluster.quota.{key} to at least" in fixes
    assert "limitsCpu" not in fixes  # 7.5 CPU + a surge pod fit under 12


def test_check_stops_when_the_job_has_not_completed(adopt: Recording, cluster: Any) -> None:
    items, seed = cluster
    find(items, "Job", "aegis-trader-create-kv-bucket")["status"] = {"active": 1}
    (problem,) = run_check(adopt, items, seed)
    assert problem.subject == "Job aegis-trader/aegis-trader-create-kv-bucket"


def test_check_stops_when_a_volume_claim_is_missing(adopt: Recording, cluster: Any) -> None:
    items, seed = cluster
    items.remove(find(items, "PersistentVolumeClaim", "data-aegis-trader-nats-2"))
    (problem,) = run_check(adopt, items, seed)
    assert problem.subject == "PersistentVolumeClaim aegis-trader/data-aegis-trader-nats-2"


# --------------------------------------------------------------------------------------------
# The command line: --live file, and kubectl read-only.


def test_cli_check_exits_non_zero_naming_the_missing_object(
    adopt: Recording, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    items = fake_cluster(adopt, declared_seed(adopt))
    items.remove(find(items, "Job", "aegis-trader-create-kv-bucket"))
    live = tmp_path / "live.json"
    live.write_text(json.dumps({"kind": "List", "items": items}))

    def no_kubectl(args: list[str]) -> str:
        raise AssertionError("--live must not call kubectl")

    assert adoption.main(["check", "--live", str(live)], run=no_kubectl) == 1
    captured = capsys.readouterr()
    assert "Job aegis-trader/aegis-trader-create-kv-bucket: is missing" in captured.err
    assert "adoption check FAILED" in captured.out and "nothing was changed" in captured.out


def test_cli_reads_the_cluster_with_kubectl_get_only(adopt: Recording) -> None:
    items = fake_cluster(adopt, declared_seed(adopt))
    calls: list[list[str]] = []

    def kubectl(args: list[str]) -> str:
        calls.append(args)
        if "secrets" in args:
            secret = {"metadata": {"name": adoption.HELM_SECRET}, "data": {"release": "c2VjcmV0"}}
            return json.dumps({"items": [secret]})
        return json.dumps({"items": [i for i in items if i["kind"] != "Secret"]})

    live = adoption.fetch_live("kind-aegis-local", NAMESPACE, kubectl)
    assert {"kind": "Secret", "metadata": {"name": adoption.HELM_SECRET}} in live
    assert all("data" not in i for i in live if i["kind"] == "Secret")  # names only
    assert calls and all(
        c[:5] == ["kubectl", "--context", "kind-aegis-local", "--namespace", NAMESPACE]
        for c in calls
    )
    assert all(c[5] == "get" for c in calls)


def test_cli_reports_an_unreachable_cluster(capsys: pytest.CaptureFixture[str]) -> None:
    def unreachable(args: list[str]) -> str:
        raise OSError("kubectl: connection refused")

    assert adoption.main(["check"], run=unreachable) == 2
    assert "cannot read the cluster" in capsys.readouterr().err


# --------------------------------------------------------------------------------------------
# Verification after `pulumi up`.


def adopted(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The cluster after a good adoption: labels taken over, Helm's record deleted."""
    after = copy.deepcopy([i for i in items if i["kind"] != "Secret"])
    for item in after:
        labels = item["metadata"].get("labels")
        if labels is not None:
            labels["app.kubernetes.io/managed-by"] = "pulumi"
    return after


def test_verify_passes_and_notes_rolled_pods(cluster: Any) -> None:
    items, _ = cluster
    after = adopted(items)
    rolled = find(after, "Pod", "aegis-trader-nats-box-0")
    rolled["metadata"]["uid"] = "uid-new-pod"
    problems, notes = adoption.verify(adoption.snapshot(items), adoption.snapshot(after))
    assert problems == []
    assert notes == ["1 pod(s) replaced by rolling updates (their templates changed)"]


def test_verify_catches_a_recreated_claim_and_a_restart(cluster: Any) -> None:
    items, _ = cluster
    after = adopted(items)
    find(after, "PersistentVolumeClaim", "data-aegis-trader-nats-0")["metadata"]["uid"] = "new"
    pod = find(after, "Pod", "aegis-trader-nats-1")
    pod["status"]["containerStatuses"][0]["restartCount"] = 1
    problems, _ = adoption.verify(adoption.snapshot(items), adoption.snapshot(after))
    assert [p.subject for p in problems] == [
        "PersistentVolumeClaim data-aegis-trader-nats-0",
        "Pod aegis-trader-nats-1",
    ]


def test_verify_catches_a_recreated_statefulset_unless_planned(cluster: Any) -> None:
    items, _ = cluster
    after = adopted(items)
    find(after, "StatefulSet", "aegis-trader-nats")["metadata"]["uid"] = "new"
    problems, _ = adoption.verify(adoption.snapshot(items), adoption.snapshot(after))
    assert [p.problem for p in problems] == ["was deleted and re-created"]
    problems, notes = adoption.verify(
        adoption.snapshot(items), adoption.snapshot(after), ["StatefulSet/aegis-trader-nats"]
    )
    assert problems == [] and any("--recreate, planned" in n for n in notes)


def test_verify_catches_helm_still_owning_the_release(cluster: Any) -> None:
    items, _ = cluster
    after = [*adopted(items), {"kind": "Secret", "metadata": {"name": adoption.HELM_SECRET}}]
    problems, _ = adoption.verify(adoption.snapshot(items), adoption.snapshot(after))
    assert [p.subject for p in problems] == ["Helm release aegis-trader"]
    not_adopted = copy.deepcopy(items)
    problems, _ = adoption.verify(adoption.snapshot(items), adoption.snapshot(not_adopted))
    assert any("managed-by 'Helm'" in p.problem for p in problems)


# --------------------------------------------------------------------------------------------
# The adoptExisting setting reaches the provider.


def kubernetes_provider(recording: Recording) -> dict[str, Any]:
    (provider,) = [r for r in recording.resources if r.type == "pulumi:providers:kubernetes"]
    return provider.inputs


def test_adopt_existing_turns_on_upsert_and_patch_force() -> None:
    inputs = kubernetes_provider(run_stack("adopt", {"adoptExisting": True}))
    assert inputs["upsertExistingObjects"] == "true"
    assert inputs["enablePatchForce"] == "true"
    assert inputs["enableServerSideApply"] == "true"


def test_without_adopt_existing_a_name_clash_still_fails(
    adopt: Recording, dev: Recording, prod: Recording
) -> None:
    # The adoption stack too: adoptExisting is set for the adoption run only (docs/adoption.md).
    for recording in (adopt, dev, prod):
        inputs = kubernetes_provider(recording)
        assert "upsertExistingObjects" not in inputs and "enablePatchForce" not in inputs
