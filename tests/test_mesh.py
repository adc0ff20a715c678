"""Service mesh: graph-derived authorization, circuit breakers, gateway, install order."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest

from components.graph import DependencyGraph, Node, ServicePort
from components.mesh import CircuitBreaker, MeshArgs, Route, ServiceMesh
from components.workload import Platform, Resources
from stacks.errors import ConfigError
from stacks.offline import Recording, run_program, run_stack
from tests.conftest import CRDS
from tests.helpers import assert_rejected
from tests.test_schemas import crd_schemas

NS = "trading"
PLATFORM = Platform(release="rel", namespace=NS, version="1", mesh_opt_out=("feed",))


def node(name: str, port: int | None, *calls: str) -> Node:
    return Node(
        name=name,
        host=f"rel-{name}",
        ports=(ServicePort("http", port),) if port else (),
        selector={"app.kubernetes.io/name": name, "app.kubernetes.io/instance": "rel"},
        service_account=f"rel-{name}",
        calls=calls,
    )


GRAPH = DependencyGraph(
    [
        node("db", 5432),
        node("cache", 6379),
        node("backend", 8000, "db", "cache"),
        node("balancer", 8080, "backend"),
        node("ui", 3100, "backend"),
        node("backup", None, "db"),
        node("feed", 9001),
    ]
)
SMALL = Resources("10m", "32Mi", "100m", "64Mi")
ARGS = MeshArgs(
    platform=PLATFORM,
    graph=GRAPH,
    namespace=NS,
    install=True,
    mode="sidecar",
    mtls_mode="STRICT",
    chart_version="1.30.3",
    chart_repo="https://istio-release.storage.googleapis.com/charts",
    system_namespace="istio-system",
    ingress_namespace="istio-ingress",
    istiod_resources=SMALL,
    gateway_resources=SMALL,
    proxy_resources=SMALL,
    timeout="5s",
    retry_attempts=3,
    per_try_timeout="2s",
    retry_on="5xx",
    circuit_breaker=CircuitBreaker(100, 50, 100, 10, 5, "10s", "30s", 50),
    tls_credential_name="trading-tls",
    routes=(Route("api.example.com", "/", "balancer"), Route("app.example.com", "/", "ui")),
)


@pytest.fixture(scope="module")
def mesh() -> Recording:
    return run_program(lambda: ServiceMesh("mesh", ARGS))


def customs(recording: Recording, kind: str) -> dict[str, dict[str, Any]]:
    return {
        str(r.object_name): r.manifest()
        for r in recording.resources
        if r.type.endswith(f":{kind}") and r.custom
    }


def allowed_pairs(recording: Recording) -> list[tuple[str, str]]:
    """(caller service account, callee) for every ALLOW rule."""
    pairs = []
    for name, policy in customs(recording, "AuthorizationPolicy").items():
        for rule in policy["spec"].get("rules", []):
            for source in rule["from"]:
                for p in source["source"]["principals"]:
                    pairs.append((p.rsplit("/", 1)[-1], name))
    return pairs


def test_every_declared_call_has_exactly_one_allow_rule_and_nothing_else(mesh: Recording) -> None:
    pairs = allowed_pairs(mesh)
    declared = {(f"rel-{caller}", f"rel-{callee}") for caller, callee in GRAPH.pairs()}
    gateway = {("istio-ingressgateway", "rel-balancer"), ("istio-ingressgateway", "rel-ui")}
    assert sorted(pairs) == sorted(declared | gateway)
    assert len(pairs) == len(set(pairs)), "a call is allowed twice"


def test_namespace_denies_by_default_and_requires_mtls(mesh: Recording) -> None:
    policies = customs(mesh, "AuthorizationPolicy")
    assert policies["rel-allow-nothing"]["spec"] == {}
    peer = customs(mesh, "PeerAuthentication")["rel-mtls"]
    assert peer["spec"] == {"mtls": {"mode": "STRICT"}}
    assert peer["metadata"]["namespace"] == NS
    # A service nobody calls gets no ALLOW policy; opted-out services aren't enforced by a proxy.
    assert "rel-feed" not in policies


def test_each_service_has_a_circuit_breaker(mesh: Recording) -> None:
    rules = customs(mesh, "DestinationRule")
    assert set(rules) == {f"rel-{n}" for n in GRAPH.names if GRAPH[n].ports}
    policy = rules["rel-backend"]["spec"]["trafficPolicy"]
    assert rules["rel-backend"]["spec"]["host"] == "rel-backend.trading.svc.cluster.local"
    assert policy["outlierDetection"]["maxEjectionPercent"] == 50
    assert policy["connectionPool"]["http"]["http1MaxPendingRequests"] == 50


def test_gateway_and_virtual_services_route_public_hosts(mesh: Recording) -> None:
    (gateway,) = customs(mesh, "Gateway").values()
    https = gateway["spec"]["servers"][0]
    assert https["tls"] == {"mode": "SIMPLE", "credentialName": "trading-tls"}
    assert https["hosts"] == ["api.example.com", "app.example.com"]
    services = customs(mesh, "VirtualService")
    api = next(v for v in services.values() if v["spec"]["hosts"] == ["api.example.com"])
    route = api["spec"]["http"][0]
    assert route["route"][0]["destination"] == {
        "host": "rel-balancer.trading.svc.cluster.local",
        "port": {"number": 8080},
    }
    assert route["timeout"] == "5s"
    assert route["retries"]["attempts"] == 3


def test_helm_install_order_is_enforced(mesh: Recording) -> None:
    releases = {
        r.inputs["chart"]: r for r in mesh.resources if r.type.startswith("kubernetes:helm")
    }
    assert set(releases) == {"base", "cni", "istiod", "gateway"}
    for later, earlier in (("cni", "base"), ("istiod", "cni"), ("gateway", "istiod")):
        assert releases[earlier].urn in releases[later].dependencies, f"{later} after {earlier}"
    assert all(r.inputs["version"] == "1.30.3" for r in releases.values())
    istiod = releases["istiod"].inputs["values"]
    assert istiod["pilot"]["cni"]["enabled"] is True
    assert istiod["pilot"]["resources"]["limits"]["memory"] == "64Mi"
    assert releases["gateway"].inputs["values"]["resources"]
    # Istio objects wait for the charts that install their CRDs.
    (peer,) = [r for r in mesh.resources if r.type.endswith(":PeerAuthentication")]
    assert releases["gateway"].urn in peer.dependencies


def test_existing_istio_installs_nothing() -> None:
    from dataclasses import replace

    recording = run_program(lambda: ServiceMesh("mesh", replace(ARGS, install=False)))
    assert not [r for r in recording.resources if r.type.startswith("kubernetes:helm")]
    assert customs(recording, "PeerAuthentication")


def test_istio_objects_validate_against_the_crds(mesh: Recording) -> None:
    if not CRDS.is_dir():
        pytest.skip(f"CRD folder {CRDS} is absent")
    schemas = crd_schemas()
    checked = 0
    for registration in mesh.resources:
        if registration.type.startswith("kubernetes:") and "istio.io" in registration.type:
            body = registration.manifest()
            jsonschema.validate(body, schemas[(body["apiVersion"], body["kind"])])
            checked += 1
    assert checked >= 10


def test_mesh_disabled_declares_no_istio_object(dev: Recording) -> None:
    assert not [r for r in dev.resources if "istio.io" in r.type]
    assert (
        "istio-injection"
        not in dev.get("Namespace", "aegis-trader").manifest()["metadata"]["labels"]
    )


BAD: list[tuple[dict[str, Any], str, str, str]] = [
    ({"mtlsMode": "OPTIONAL"}, "mesh.mtlsMode", "OPTIONAL", "'STRICT' or 'PERMISSIVE'"),
    (
        {"circuitBreaker": {"maxConnections": -1}},
        "mesh.circuitBreaker.maxConnections",
        "-1",
        "between 1 and",
    ),
    (
        {"circuitBreaker": {"maxEjectionPercent": 150}},
        "mesh.circuitBreaker.maxEjectionPercent",
        "150",
        "between 0 and 100",
    ),
    (
        {"circuitBreaker": {"interval": "10 seconds"}},
        "mesh.circuitBreaker.interval",
        "10 seconds",
        "duration",
    ),
    (
        {"gateway": {"routes": [{"host": "not a host", "service": "balancer"}]}},
        "mesh.gateway.routes.0.host",
        "not a host",
        "DNS name",
    ),
    (
        {"gateway": {"tlsCredentialName": None}},
        "mesh.gateway",
        "None",
        "tlsCredentialName must name",
    ),
    ({"chartVersion": "latest"}, "mesh.chartVersion", "latest", "exact chart version"),
    ({"chartRepo": "istio-release"}, "mesh.chartRepo", "istio-release", "https:// or oci://"),
]


@pytest.mark.parametrize(("mesh", "key", "value", "allowed"), BAD, ids=[b[1] for b in BAD])
def test_bad_mesh_config_fails_before_any_resource(
    mesh: dict[str, Any], key: str, value: str, allowed: str
) -> None:
    assert_rejected({"mesh": mesh}, key, value, allowed)


def test_route_to_unknown_service_names_the_route() -> None:
    overrides = {
        "mesh": {
            "enabled": True,
            "gateway": {"routes": [{"host": "a.example.com", "service": "ghost"}]},
        }
    }
    recording = Recording("dev")
    with pytest.raises(ConfigError, match=r"mesh.gateway.routes.0.service = 'ghost'"):
        run_stack("dev", overrides, recording=recording)
    assert recording.resources == []
