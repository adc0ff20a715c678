"""Adopting seed 000's live `aegis-trader` Helm release in place (docs/adoption.md).

The dev stack declares every object seed 000 lists with the same name, namespace, ports and
selector labels; the pre-flight check, fed a fake `kubectl get` result, passes on a cluster that
matches and stops naming the object when one is missing or incompatible; the verification
catches a re-created volume claim or a restarted container; `adoptExisting` reaches the provider.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from stacks import adopt
from stacks.adopt import SEED_000, SeedObject
from stacks.offline import Recording, run_stack

NAMESPACE = "aegis-trader"


# --------------------------------------------------------------------------------------------
# The dev stack declares seed 000's objects (data-driven: one case per listed object).


@pytest.mark.parametrize("obj", SEED_000, ids=lambda o: f"{o.kind}-{o.name}")
def test_dev_stack_declares_seed_000_object(dev: Recording, obj: SeedObject) -> None:
    found = [r for r in dev.of_kind(obj.kind) if r.object_name == obj.name]
    assert found, f"the dev stack declares no {obj.kind} {obj.name} (seed 000; the {obj.tier} tier)"
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


def test_nats_statefulset_keeps_seed_000_ports_and_claim(dev: Recording) -> None:
    sts = dev.get("StatefulSet", "aegis-trader-nats").manifest()
    (nats,) = [c for c in sts["spec"]["template"]["spec"]["containers"] if c["name"] == "nats"]
    assert {p["containerPort"] for p in nats["ports"]} >= {4222, 6222, 8222}
    assert [t["metadata"]["name"] for t in sts["spec"]["volumeClaimTemplates"]] == ["data"]


# --------------------------------------------------------------------------------------------
# A fake cluster: what Helm would have deployed, built from the stack's own objects.


def declared_seed(dev: Recording) -> list[SeedObject]:
    """The seed objects the dev stack declares today (a tier may still be in progress)."""
    desired = adopt.desired_objects(dev, NAMESPACE)
    return [o for o in SEED_000 if (o.kind, o.name) in desired]


def fake_cluster(dev: Recording, seed: list[SeedObject]) -> list[dict[str, Any]]:
    desired = adopt.desired_objects(dev, NAMESPACE)
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
    items.append({"kind": "Secret", "metadata": {"name": adopt.HELM_SECRET}})
    return items


def find(items: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    return next(i for i in items if i["kind"] == kind and i["metadata"]["name"] == name)


@pytest.fixture
def cluster(dev: Recording) -> tuple[list[dict[str, Any]], list[SeedObject]]:
    seed = declared_seed(dev)
    assert ("StatefulSet", "aegis-trader-nats") in {(o.kind, o.name) for o in seed}
    return fake_cluster(dev, seed), seed


def run_check(dev: Recording, items: list[dict[str, Any]], seed: list[SeedObject], **kw: Any):
    return adopt.check(items, adopt.desired_objects(dev, NAMESPACE), NAMESPACE, seed, **kw)


def test_check_passes_on_a_matching_cluster(dev: Recording, cluster: Any) -> None:
    items, seed = cluster
    assert run_check(dev, items, seed) == []


def test_check_stops_naming_the_missing_object(dev: Recording, cluster: Any) -> None:
    items, seed = cluster
    items.remove(find(items, "StatefulSet", "aegis-trader-nats"))
    problems = run_check(dev, items, seed)
    assert [p.message() for p in problems] == [
        "StatefulSet aegis-trader/aegis-trader-nats: is missing from the cluster (seed 000 lists "
        "it); nothing was changed. Fix: restore it from the backup (`kubectl apply -f "
        "helm-manifest.yaml`) or find out why it is gone before adopting"
    ]


def test_check_stops_when_the_stack_lacks_a_seed_object(dev: Recording, cluster: Any) -> None:
    items, seed = cluster
    missing = SeedObject("Deployment", "aegis-trader-ghost", "ghost", "ui")
    problems = run_check(dev, items, [*seed, missing])
    subjects = [p.subject for p in problems]
    assert subjects.count("Deployment aegis-trader/aegis-trader-ghost") == 2
    assert "not declared by the stack (the ui tier)" in problems[-1].problem


def test_check_stops_on_an_immutable_selector_change(dev: Recording, cluster: Any) -> None:
    items, seed = cluster
    box = find(items, "Deployment", "aegis-trader-nats-box")
    box["spec"]["selector"]["matchLabels"]["app"] = "nats-box"
    (problem,) = run_check(dev, items, seed)
    assert problem.subject == "Deployment aegis-trader/aegis-trader-nats-box"
    assert problem.problem.startswith("spec.selector is immutable and differs")


def test_claim_templates_must_match_or_be_replaced_without_pods(
    dev: Recording, cluster: Any
) -> None:
    """Seed 000's volumes are 10Gi of class standard; the local profile declares 1Gi."""
    items, seed = cluster
    nats = find(items, "StatefulSet", "aegis-trader-nats")
    claim = nats["spec"]["volumeClaimTemplates"][0]["spec"]
    claim["resources"]["requests"]["storage"] = "10Gi"
    claim["storageClassName"] = "standard"
    (problem,) = run_check(dev, items, seed)
    assert problem.blocking and "spec.volumeClaimTemplates is immutable" in problem.problem
    assert "messageBus.storage.size 10Gi" in problem.fix

    # Either the stack declares the live claims ...
    aligned = run_stack(
        "dev", {"messageBus": {"storage": {"size": "10Gi", "storageClass": "standard"}}}
    )
    assert adopt.check(items, adopt.desired_objects(aligned, NAMESPACE), NAMESPACE, seed) == []
    # ... or the StatefulSet object alone is replaced, keeping its pods and claims.
    (step,) = run_check(dev, items, seed, recreate=["StatefulSet/aegis-trader-nats"])
    assert not step.blocking and "--cascade=orphan" in step.fix

    # A different claim name would orphan the data: never accepted.
    nats["spec"]["volumeClaimTemplates"][0]["metadata"]["name"] = "jetstream"
    problems = run_check(dev, items, seed, recreate=["StatefulSet/aegis-trader-nats"])
    assert any(p.blocking and "volumeClaimTemplates" in p.problem for p in problems)


def test_renamed_container_ports_keep_their_endpoints(dev: Recording, cluster: Any) -> None:
    """Services target port numbers, so pods whose ports Helm named differently keep serving."""
    items, seed = cluster
    nats = find(items, "StatefulSet", "aegis-trader-nats")
    for container in nats["spec"]["template"]["spec"]["containers"]:
        for port in container.get("ports", []):
            port["name"] = f"tcp-{port['containerPort']}"
    assert run_check(dev, items, seed) == []


def test_check_stops_when_helm_moved_on(dev: Recording, cluster: Any) -> None:
    items, seed = cluster
    items.append({"kind": "Secret", "metadata": {"name": f"{adopt.HELM_SECRET_PREFIX}8"}})
    (problem,) = run_check(dev, items, seed)
    assert problem.subject == "Helm release aegis-trader" and "revision 8" in problem.problem


def test_check_stops_when_the_quota_leaves_no_room(dev: Recording, cluster: Any) -> None:
    """Seed 000's pods request 3.5 CPU / 15Gi and are limited to 7.5 CPU / 27Gi; the local
    quota allows requests of 3 CPU / 8Gi and limits of 12 CPU / 16Gi."""
    items, seed = cluster
    resources = {
        "requests": {"cpu": "3500m", "memory": "15Gi"},
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
    problems = run_check(dev, items, seed)
    assert {p.subject for p in problems} == {"ResourceQuota"}
    fixes = " ".join(p.fix for p in problems)
    for key in ("requestsCpu", "requestsMemory", "limitsMemory"):
        assert f"cluster.quota.{key} to at least" in fixes
    assert "limitsCpu" not in fixes  # 7.5 CPU + a surge pod fit under 12


def test_check_stops_when_the_job_has_not_completed(dev: Recording, cluster: Any) -> None:
    items, seed = cluster
    find(items, "Job", "aegis-trader-create-kv-bucket")["status"] = {"active": 1}
    (problem,) = run_check(dev, items, seed)
    assert problem.subject == "Job aegis-trader/aegis-trader-create-kv-bucket"


def test_check_stops_when_a_volume_claim_is_missing(dev: Recording, cluster: Any) -> None:
    items, seed = cluster
    items.remove(find(items, "PersistentVolumeClaim", "data-aegis-trader-nats-2"))
    (problem,) = run_check(dev, items, seed)
    assert problem.subject == "PersistentVolumeClaim aegis-trader/data-aegis-trader-nats-2"


# --------------------------------------------------------------------------------------------
# The command line: --live file, and kubectl read-only.


def test_cli_check_exits_non_zero_naming_the_missing_object(
    dev: Recording, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    items = fake_cluster(dev, declared_seed(dev))
    items.remove(find(items, "Job", "aegis-trader-create-kv-bucket"))
    live = tmp_path / "live.json"
    live.write_text(json.dumps({"kind": "List", "items": items}))

    def no_kubectl(args: list[str]) -> str:
        raise AssertionError("--live must not call kubectl")

    assert adopt.main(["check", "--live", str(live)], run=no_kubectl) == 1
    captured = capsys.readouterr()
    assert "Job aegis-trader/aegis-trader-create-kv-bucket: is missing" in captured.err
    assert "adoption check FAILED" in captured.out and "nothing was changed" in captured.out


def test_cli_reads_the_cluster_with_kubectl_get_only(dev: Recording) -> None:
    items = fake_cluster(dev, declared_seed(dev))
    calls: list[list[str]] = []

    def kubectl(args: list[str]) -> str:
        calls.append(args)
        if "secrets" in args:
            secret = {"metadata": {"name": adopt.HELM_SECRET}, "data": {"release": "c2VjcmV0"}}
            return json.dumps({"items": [secret]})
        return json.dumps({"items": [i for i in items if i["kind"] != "Secret"]})

    live = adopt.fetch_live("kind-aegis-local", NAMESPACE, kubectl)
    assert {"kind": "Secret", "metadata": {"name": adopt.HELM_SECRET}} in live
    assert all("data" not in i for i in live if i["kind"] == "Secret")  # names only
    assert calls and all(
        c[:5] == ["kubectl", "--context", "kind-aegis-local", "--namespace", NAMESPACE]
        for c in calls
    )
    assert all(c[5] == "get" for c in calls)


def test_cli_reports_an_unreachable_cluster(capsys: pytest.CaptureFixture[str]) -> None:
    def unreachable(args: list[str]) -> str:
        raise OSError("kubectl: connection refused")

    assert adopt.main(["check"], run=unreachable) == 2
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
    problems, notes = adopt.verify(adopt.snapshot(items), adopt.snapshot(after))
    assert problems == []
    assert notes == ["1 pod(s) replaced by rolling updates (their templates changed)"]


def test_verify_catches_a_recreated_claim_and_a_restart(cluster: Any) -> None:
    items, _ = cluster
    after = adopted(items)
    find(after, "PersistentVolumeClaim", "data-aegis-trader-nats-0")["metadata"]["uid"] = "new"
    pod = find(after, "Pod", "aegis-trader-nats-1")
    pod["status"]["containerStatuses"][0]["restartCount"] = 1
    problems, _ = adopt.verify(adopt.snapshot(items), adopt.snapshot(after))
    assert [p.subject for p in problems] == [
        "PersistentVolumeClaim data-aegis-trader-nats-0",
        "Pod aegis-trader-nats-1",
    ]


def test_verify_catches_a_recreated_statefulset_unless_planned(cluster: Any) -> None:
    items, _ = cluster
    after = adopted(items)
    find(after, "StatefulSet", "aegis-trader-nats")["metadata"]["uid"] = "new"
    problems, _ = adopt.verify(adopt.snapshot(items), adopt.snapshot(after))
    assert [p.problem for p in problems] == ["was deleted and re-created"]
    problems, notes = adopt.verify(
        adopt.snapshot(items), adopt.snapshot(after), ["StatefulSet/aegis-trader-nats"]
    )
    assert problems == [] and any("--recreate, planned" in n for n in notes)


def test_verify_catches_helm_still_owning_the_release(cluster: Any) -> None:
    items, _ = cluster
    after = [*adopted(items), {"kind": "Secret", "metadata": {"name": adopt.HELM_SECRET}}]
    problems, _ = adopt.verify(adopt.snapshot(items), adopt.snapshot(after))
    assert [p.subject for p in problems] == ["Helm release aegis-trader"]
    not_adopted = copy.deepcopy(items)
    problems, _ = adopt.verify(adopt.snapshot(items), adopt.snapshot(not_adopted))
    assert any("managed-by 'Helm'" in p.problem for p in problems)


# --------------------------------------------------------------------------------------------
# The adoptExisting setting reaches the provider.


def kubernetes_provider(recording: Recording) -> dict[str, Any]:
    (provider,) = [r for r in recording.resources if r.type == "pulumi:providers:kubernetes"]
    return provider.inputs


def test_adopt_existing_turns_on_upsert_and_patch_force() -> None:
    inputs = kubernetes_provider(run_stack("dev", {"adoptExisting": True}))
    assert inputs["upsertExistingObjects"] == "true"
    assert inputs["enablePatchForce"] == "true"
    assert inputs["enableServerSideApply"] == "true"


def test_without_adopt_existing_a_name_clash_still_fails(dev: Recording, prod: Recording) -> None:
    for recording in (dev, prod):
        inputs = kubernetes_provider(recording)
        assert "upsertExistingObjects" not in inputs and "enablePatchForce" not in inputs
