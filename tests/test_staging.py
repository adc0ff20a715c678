"""Staging (seed 004: dev, staging, prod): production sizing on its own cluster, namespace and
public hosts, every autoscaler's maximum capped by `cluster.maxReplicasCap`."""

from __future__ import annotations

import json
from typing import Any

from tests.helpers import assert_rejected, container, env_of
from tools.offline import Recording, run_stack, stack_config, unwrap

CAP = 5  # Pulumi.staging.yaml's cluster.maxReplicasCap


def hpas(recording: Recording) -> dict[str, dict[str, Any]]:
    return {
        str(r.object_name): r.manifest()["spec"]
        for r in recording.of_kind("HorizontalPodAutoscaler")
    }


def workloads(recording: Recording) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (r.kind, str(r.object_name)): r.manifest()["spec"]
        for r in recording.kubernetes_objects()
        if r.kind in ("Deployment", "StatefulSet", "DaemonSet")
    }


def test_staging_is_production_sizing() -> None:
    assert stack_config("staging")["trading-platform:profile"] == "production"


def test_staging_has_its_own_namespace_cluster_and_hosts(
    staging: Recording, prod: Recording
) -> None:
    assert staging.get("Namespace", "trading-staging")
    (provider,) = [r for r in staging.resources if r.type == "pulumi:providers:kubernetes"]
    assert provider.inputs["context"] == "staging-trading"
    assert provider.inputs["clusterIdentifier"] == "staging-trading-cluster"
    (prod_provider,) = [r for r in prod.resources if r.type == "pulumi:providers:kubernetes"]
    assert prod_provider.inputs["clusterIdentifier"] != provider.inputs["clusterIdentifier"]

    def hosts(recording: Recording) -> set[str]:
        (gateway,) = recording.of_kind("Gateway")
        return {h for server in gateway.manifest()["spec"]["servers"] for h in server["hosts"]}

    assert hosts(staging) == {
        "api.staging.trading.example.com",
        "app.staging.trading.example.com",
        "operator.staging.trading.example.com",
    }
    assert not hosts(staging) & hosts(prod)
    (gateway,) = staging.of_kind("Gateway")
    https = next(s for s in gateway.manifest()["spec"]["servers"] if s["port"]["number"] == 443)
    assert https["tls"]["credentialName"] == "trading-staging-tls"


def test_staging_sizes_every_container_as_production(staging: Recording, prod: Recording) -> None:
    ours, theirs = workloads(staging), workloads(prod)
    assert ours.keys() == theirs.keys()
    for key, spec in ours.items():
        pods = spec["template"]["spec"], theirs[key]["template"]["spec"]
        mine_all, prod_all = (p["containers"] + p.get("initContainers", []) for p in pods)
        for mine, prods in zip(mine_all, prod_all, strict=True):
            assert mine["resources"] == prods["resources"], (key, mine["name"])
        assert spec.get("replicas") == theirs[key].get("replicas"), key


def test_every_staging_autoscaler_is_capped(staging: Recording, prod: Recording) -> None:
    ours, theirs = hpas(staging), hpas(prod)
    assert ours.keys() == theirs.keys() and ours
    for name, spec in ours.items():
        assert spec["minReplicas"] == theirs[name]["minReplicas"], name
        assert spec["maxReplicas"] == min(theirs[name]["maxReplicas"], CAP), name
        assert spec["metrics"] == theirs[name]["metrics"], name
    # Production's own maxima are above the cap (seed 003's analysis layer scales to 20).
    assert max(spec["maxReplicas"] for spec in theirs.values()) == 20


def test_the_cap_keeps_lower_maxima_and_is_off_by_default(prod: Recording) -> None:
    capped = hpas(run_stack("prod", {"cluster": {"maxReplicasCap": 8}}))
    for name, spec in hpas(prod).items():
        assert capped[name]["maxReplicas"] == min(spec["maxReplicas"], 8), name
    assert {spec["maxReplicas"] for spec in capped.values()} == {5, 8}


def test_a_cap_below_a_minimum_is_rejected() -> None:
    assert_rejected(
        {"cluster": {"maxReplicasCap": 4}},
        "cluster.maxReplicasCap",
        "4",
        "is below tradingServices.stages.analysis.minReplicas 5",
        stack="staging",
    )


def test_a_cap_must_be_a_positive_count() -> None:
    for bad in (0, "many"):
        assert_rejected(
            {"cluster": {"maxReplicasCap": bad}}, "cluster.maxReplicasCap", repr(bad), "", "staging"
        )
    assert_rejected(
        {"cluster": {"maxReplicasCap": 0}},
        "cluster.maxReplicasCap",
        "0",
        "must be a count between 1 and 10000",
        stack="staging",
    )


def alertmanager_config(recording: Recording) -> str:
    (release,) = [r for r in recording.resources if r.name.endswith("kube-prometheus-stack")]
    return json.dumps(unwrap(release.inputs)["values"]["alertmanager"]["config"])


def test_staging_alerts_reach_its_channel_and_page_nobody(
    staging: Recording, prod: Recording
) -> None:
    assert "#trading-staging-alerts" in alertmanager_config(staging)
    assert "pagerduty" not in alertmanager_config(staging)
    assert "pagerduty" in alertmanager_config(prod)


def test_dev_runs_in_debug_mode(dev: Recording, staging: Recording, prod: Recording) -> None:
    # Seed 004's development environment: "Debug mode enabled"; staging and prod log at INFO.
    for recording, level in ((dev, "DEBUG"), (staging, "INFO"), (prod, "INFO")):
        levels = {
            str(d.object_name): env_of(c)["SERVICE_LOG_LEVEL"]
            for d in recording.of_kind("Deployment")
            for c in d.manifest()["spec"]["template"]["spec"]["containers"]
            if "SERVICE_LOG_LEVEL" in env_of(c)
        }
        assert len(levels) >= 10 and set(levels.values()) == {level}, recording.stack
    reporter = container(dev, "Deployment", "aegis-trader-reporter", "reporter")
    assert env_of(reporter)["SERVICE_LOG_LEVEL"] == "DEBUG"


def chart_maxima(recording: Recording) -> tuple[object, object]:
    """istiod's and the gateway's autoscaler maxima as set in their Helm values (None: the
    charts' own, 5)."""
    values = {
        r.name.rsplit("-", 1)[-1]: unwrap(r.inputs)["values"]
        for r in recording.resources
        if r.type.startswith("kubernetes:helm.sh/") and r.name.endswith(("-istiod", "-gateway"))
    }
    return (
        values["istiod"].get("pilot", {}).get("autoscaleMax"),
        values["gateway"].get("autoscaling", {}).get("maxReplicas"),
    )


def test_the_cap_reaches_the_mesh_charts_autoscalers(staging: Recording, prod: Recording) -> None:
    # istiod's and the gateway's HPAs come from the Istio charts (1 to 5 replicas by default).
    assert chart_maxima(prod) == (None, None)
    assert chart_maxima(staging) == (5, 5)
    lowered = run_stack("dev", {"mesh": {"enabled": True}, "cluster": {"maxReplicasCap": 2}})
    assert chart_maxima(lowered) == (2, 2)
