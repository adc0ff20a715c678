"""HFT engine: seed 002's ports and sizing, shard fan-out, Guaranteed QoS in production."""

from __future__ import annotations

from typing import Any

import pytest

from components.engine import engine_nodes, engine_probes, shard_addresses
from components.workload import Platform
from tests.helpers import assert_rejected, container, env_of, manifest, pod_spec
from tools.offline import Recording, run_stack

ENGINE = "aegis-trader-hft-engine"
PLATFORM = Platform(release="aegis-trader", namespace="ns", version="")


@pytest.fixture(scope="module")
def three_shards() -> Recording:
    return run_stack("dev", {"engine": {"shards": 3}})


def shard_names(recording: Recording) -> list[str]:
    return sorted(
        str(r.object_name)
        for r in recording.of_kind("Deployment")
        if str(r.object_name).startswith(f"{ENGINE}-")
    )


def test_each_shard_service_carries_grpc_tcp_and_market_data_udp(stack: Recording) -> None:
    for name in shard_names(stack):
        ports = manifest(stack, "Service", name)["spec"]["ports"]
        assert [(p["name"], p["port"], p["protocol"]) for p in ports] == [
            ("grpc", 50051, "TCP"),
            ("market-data", 9001, "UDP"),
        ]
        engine = container(stack, "Deployment", name, "engine")
        assert {(p["containerPort"], p["protocol"]) for p in engine["ports"]} == {
            (50051, "TCP"),
            (9001, "UDP"),
        }


def test_local_runs_seed_002s_single_engine_at_256mi_500m(dev: Recording) -> None:
    assert shard_names(dev) == [f"{ENGINE}-0"]
    engine = container(dev, "Deployment", f"{ENGINE}-0", "engine")
    assert engine["resources"] == {
        "requests": {"cpu": "500m", "memory": "256Mi"},
        "limits": {"cpu": "500m", "memory": "256Mi"},
    }
    assert env_of(engine)["SHARD_ID"] == "0"
    assert env_of(engine)["SHARD_COUNT"] == "1"
    assert dev.outputs["engineShards"] == [f"{ENGINE}-0:50051"]


def test_production_shards_are_guaranteed_qos_with_whole_cpus(prod: Recording) -> None:
    names = shard_names(prod)
    assert names == [f"{ENGINE}-{i}" for i in range(4)]
    for name in names:
        resources = container(prod, "Deployment", name, "engine")["resources"]
        assert resources["requests"] == resources["limits"]  # Guaranteed QoS
        assert float(resources["limits"]["cpu"]).is_integer()  # static CPU manager pins cores
        affinity = pod_spec(prod, "Deployment", name)["affinity"]["podAntiAffinity"]
        term = affinity["preferredDuringSchedulingIgnoredDuringExecution"][0]["podAffinityTerm"]
        assert term["labelSelector"]["matchExpressions"][0]["values"] == [
            f"hft-engine-{i}" for i in range(4)
        ]


def test_three_shards_fan_out_to_services_and_the_backends_ordered_list(
    three_shards: Recording,
) -> None:
    names = [f"{ENGINE}-{i}" for i in range(3)]
    assert shard_names(three_shards) == names
    for i, name in enumerate(names):
        three_shards.get("Service", name)
        engine = container(three_shards, "Deployment", name, "engine")
        assert env_of(engine)["SHARD_ID"] == str(i)
        assert env_of(engine)["SHARD_COUNT"] == "3"
        # Each shard admits the backend on both ports.
        policy = manifest(three_shards, "NetworkPolicy", name)["spec"]
        (rule,) = [
            r
            for r in policy["ingress"]
            if r["from"][0]["podSelector"]["matchLabels"].get("app.kubernetes.io/name") == "backend"
        ]
        assert rule["ports"] == [
            {"protocol": "TCP", "port": 50051},
            {"protocol": "UDP", "port": 9001},
        ]
    backend = env_of(container(three_shards, "Deployment", "aegis-trader-backend", "backend"))
    expected = [f"{name}:50051" for name in names]
    assert backend["ENGINE_SHARDS"] == ",".join(expected)
    assert backend["ENGINE_SHARD_COUNT"] == "3"
    assert three_shards.outputs["engineShards"] == expected


def test_engine_probes_grpc_health_on_50051(stack: Recording) -> None:
    engine = container(stack, "Deployment", f"{ENGINE}-0", "engine")
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert engine[probe]["grpc"] == {"port": 50051}


def test_engine_probes_fall_back_to_tcp_without_grpc_health() -> None:
    probes = engine_probes(50051, grpc_health=False).manifest()
    assert probes["livenessProbe"]["tcpSocket"] == {"port": "grpc"}
    assert "grpc" not in probes["readinessProbe"]


def test_engine_runs_restricted(stack: Recording) -> None:
    engine = container(stack, "Deployment", f"{ENGINE}-0", "engine")
    assert engine["securityContext"]["readOnlyRootFilesystem"] is True
    assert engine["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert pod_spec(stack, "Deployment", f"{ENGINE}-0")["securityContext"]["runAsNonRoot"]


def test_low_latency_node_selector_and_tolerations_reach_every_shard() -> None:
    recording = run_stack(
        "prod",
        {
            "engine": {
                "shards": 2,
                "nodeSelector": {"trading.aegis/low-latency": "true"},
                "tolerations": [
                    {
                        "key": "trading.aegis/low-latency",
                        "operator": "Exists",
                        "effect": "NoSchedule",
                    }
                ],
            }
        },
    )
    for i in range(2):
        pod = pod_spec(recording, "Deployment", f"{ENGINE}-{i}")
        assert pod["nodeSelector"] == {"trading.aegis/low-latency": "true"}
        assert pod["tolerations"] == [
            {"key": "trading.aegis/low-latency", "operator": "Exists", "effect": "NoSchedule"}
        ]


def test_shard_addresses_and_nodes_are_ordered_by_shard_id() -> None:
    assert shard_addresses(PLATFORM, 2) == (
        "aegis-trader-hft-engine-0:50051",
        "aegis-trader-hft-engine-1:50051",
    )
    nodes = engine_nodes(PLATFORM, 2)
    assert [n.name for n in nodes] == ["hft-engine-0", "hft-engine-1"]
    assert nodes[1].selector["app.kubernetes.io/name"] == "hft-engine-1"
    assert nodes[0].url == "grpc://aegis-trader-hft-engine-0:50051"


BAD: list[tuple[dict[str, Any], str, str, str]] = [
    ({"shards": 0}, "engine.shards", "0", "between 1 and 64"),
    ({"shards": 65}, "engine.shards", "65", "between 1 and 64"),
    ({"marketDataPort": 50051}, "engine", "50051", "must be distinct"),
    ({"grpcPort": 70000}, "engine.grpcPort", "70000", "between 1 and 65535"),
    (
        # Production demands Guaranteed QoS with whole CPUs; 500m cannot be pinned.
        {
            "exclusiveCpus": True,
            "resources": {"cpuRequest": "500m", "cpuLimit": "500m"},
        },
        "engine.resources",
        "500m",
        "Guaranteed QoS class with whole CPUs",
    ),
    (
        {"exclusiveCpus": True, "resources": {"cpuRequest": "1", "cpuLimit": "2"}},
        "engine.resources",
        "1/2",
        "cpuRequest equal to cpuLimit",
    ),
    (
        {
            "exclusiveCpus": True,
            "resources": {"cpuRequest": "1", "cpuLimit": "1", "memoryRequest": "128Mi"},
        },
        "engine.resources",
        "128Mi/256Mi",
        "memoryRequest equal to memoryLimit",
    ),
    (
        {"tolerations": [{"key": "x", "effect": "NoWhere"}]},
        "engine.tolerations.0.effect",
        "NoWhere",
        "NoSchedule",
    ),
    ({"image": "hft-engine"}, "engine.image", "hft-engine", "pinned by tag or digest"),
]


@pytest.mark.parametrize(("engine", "key", "value", "allowed"), BAD, ids=[str(b[0]) for b in BAD])
def test_bad_engine_config_fails_before_any_resource(
    engine: dict[str, Any], key: str, value: str, allowed: str
) -> None:
    assert_rejected({"engine": engine}, key, value, allowed)


def test_a_shard_never_runs_twice_during_a_rollout(stack: Recording) -> None:
    for shard in stack.of_kind("Deployment"):
        if (shard.object_name or "").startswith("aegis-trader-hft-engine-"):
            assert shard.manifest()["spec"]["strategy"] == {"type": "Recreate"}
