"""Service mesh: graph-derived authorization, circuit breakers, gateway, install order."""

from __future__ import annotations

import functools
from typing import Any

import jsonschema
import pytest

from components.graph import DependencyGraph, Node, ServicePort
from components.mesh import (
    CircuitBreaker,
    GatewayArgs,
    IstioInstall,
    MeshArgs,
    Retries,
    Route,
    ServiceMesh,
    Traffic,
)
from components.workload import Platform, Resources
from stacks.errors import ConfigError
from tests.conftest import CRDS
from tests.helpers import assert_rejected
from tests.test_network import graph_of
from tests.test_schemas import crd_schemas
from tools.offline import Recording, run_program, run_stack

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
    mode="sidecar",
    mtls_mode="STRICT",
    system_namespace="istio-system",
    traffic=Traffic(
        timeout="5s",
        retries=Retries(attempts=3, per_try_timeout="2s", retry_on="5xx"),
        circuit_breaker=CircuitBreaker(100, 50, 100, 10, 5, "10s", "30s", 50),
    ),
    gateway=GatewayArgs(
        namespace="istio-ingress",
        resources=SMALL,
        tls_credential_name="trading-tls",
        routes=(Route("api.example.com", "/", "balancer"), Route("app.example.com", "/", "ui")),
        service_type="LoadBalancer",
        wait=True,
        wait_timeout=600,
        issuer=None,
        rate_limit=None,
        security_headers=(),
    ),
    install=IstioInstall(
        chart_version="1.30.3",
        chart_repo="https://istio-release.storage.googleapis.com/charts",
        istiod_resources=SMALL,
        proxy_resources=SMALL,
        platform=None,
        native_sidecars="auto",
        max_replicas_cap=None,
    ),
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

    recording = run_program(lambda: ServiceMesh("mesh", replace(ARGS, install=None)))
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


# Istio on real clusters (issue 16, item 5). Chart keys checked against Istio 1.30.3's charts.


def releases_of(recording: Recording) -> dict[str, Any]:
    """Istio chart name -> the Helm release's recorded inputs."""
    return {
        r.inputs["chart"]: r.inputs
        for r in recording.resources
        if r.type.startswith("kubernetes:helm") and r.parent and ":ServiceMesh" in str(r.parent)
    }


def test_istiod_and_gateway_run_with_the_runtime_default_seccomp_profile(mesh: Recording) -> None:
    releases = releases_of(mesh)
    # istiod chart: `pilot.*` is copied to the top level (zzy_descope_legacy.yaml) and
    # `seccompProfile` becomes the discovery container's securityContext.seccompProfile.
    assert releases["istiod"]["values"]["pilot"]["seccompProfile"] == {"type": "RuntimeDefault"}
    # gateway chart: `securityContext` replaces the pod's default, so the unprivileged-port sysctl
    # that lets the proxy bind 80/443 is kept next to the profile.
    assert releases["gateway"]["values"]["securityContext"] == {
        "sysctls": [{"name": "net.ipv4.ip_unprivileged_port_start", "value": "0"}],
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def test_native_sidecars_follow_istios_auto_detection_by_default(mesh: Recording) -> None:
    # auto: istiod injects native sidecars only where every kubelet is 1.33+; a forced "true"
    # would inject init containers with restartPolicy Always that Kubernetes < 1.29 rejects.
    env = releases_of(mesh)["istiod"]["values"]["pilot"]["env"]
    assert env == {"ENABLE_NATIVE_SIDECARS": "auto"}


def test_no_platform_profile_unless_configured(mesh: Recording) -> None:
    for chart, inputs in releases_of(mesh).items():
        assert "platform" not in inputs["values"].get("global", {}), chart
        assert "platform" not in inputs["values"], chart


def test_gateway_defaults_to_a_load_balancer_the_release_waits_for(mesh: Recording) -> None:
    gateway = releases_of(mesh)["gateway"]
    assert gateway["values"]["service"] == {"type": "LoadBalancer"}
    assert gateway["atomic"] is True
    assert gateway["timeout"] == 600
    assert "skipAwait" not in gateway


@pytest.fixture(scope="module")
def configured() -> Recording:
    from dataclasses import replace

    assert ARGS.install is not None
    args = replace(
        ARGS,
        mode="ambient",
        install=replace(ARGS.install, platform="k3s", native_sidecars="true"),
        gateway=replace(ARGS.gateway, service_type="ClusterIP", wait=False, wait_timeout=120),
    )
    return run_program(lambda: ServiceMesh("mesh", args))


def test_platform_is_set_on_every_chart_that_reads_it(configured: Recording) -> None:
    releases = releases_of(configured)
    # cni: CNI paths (files/profile-platform-k3s.yaml); istiod: PLATFORM env and OpenShift's
    # multus provider; ztunnel: OpenShift RBAC. The base and gateway templates read none.
    for chart in ("cni", "istiod", "ztunnel"):
        assert releases[chart]["values"]["global"]["platform"] == "k3s", chart
    assert releases["base"]["values"] == {}
    assert "global" not in releases["gateway"]["values"]
    # The platform merges into the charts' other values instead of replacing them.
    istiod = releases["istiod"]["values"]
    assert istiod["profile"] == "ambient"
    assert istiod["global"]["proxy"]["resources"]["limits"]["memory"] == "64Mi"
    assert releases["cni"]["values"]["resources"] == {"requests": {"cpu": "10m", "memory": "32Mi"}}
    assert istiod["pilot"]["env"] == {"ENABLE_NATIVE_SIDECARS": "true"}


def test_gateway_service_type_and_wait_are_configurable(configured: Recording) -> None:
    releases = releases_of(configured)
    gateway = releases["gateway"]
    assert gateway["values"]["service"] == {"type": "ClusterIP"}
    # No wait: not atomic (atomic implies waiting) and the provider skips its await logic.
    assert gateway["atomic"] is False
    assert gateway["skipAwait"] is True
    assert gateway["timeout"] == 120
    # The other charts keep waiting: the gateway needs istiod's injection webhook.
    assert all(releases[c]["atomic"] is True for c in ("base", "cni", "istiod", "ztunnel"))


def test_production_gateway_is_a_load_balancer_with_hardened_istio(prod: Recording) -> None:
    releases = releases_of(prod)
    assert releases["gateway"]["values"]["service"] == {"type": "LoadBalancer"}
    assert releases["gateway"]["atomic"] is True
    assert releases["gateway"]["values"]["securityContext"]["seccompProfile"] == {
        "type": "RuntimeDefault"
    }
    assert releases["istiod"]["values"]["pilot"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert releases["istiod"]["values"]["pilot"]["env"]["ENABLE_NATIVE_SIDECARS"] == "auto"


def test_local_gateway_needs_no_load_balancer_controller() -> None:
    # kind has no load-balancer controller: a LoadBalancer would wait for an address until the
    # atomic release rolls back. ClusterIP (kubectl port-forward), as the balancer's local default.
    recording = run_stack("dev", {"mesh": {"enabled": True}})
    gateway = releases_of(recording)["gateway"]
    assert gateway["values"]["service"] == {"type": "ClusterIP"}
    assert gateway["atomic"] is True


def test_stack_settings_reach_the_charts() -> None:
    overrides = {
        "mesh": {
            "enabled": True,
            "platform": "openshift",
            "nativeSidecars": True,  # YAML's boolean, as `pulumi config set --path` writes it
            "gateway": {"serviceType": "ClusterIP", "wait": False, "waitTimeout": 900},
        }
    }
    releases = releases_of(run_stack("dev", overrides))
    assert releases["cni"]["values"]["global"] == {"platform": "openshift"}
    assert releases["istiod"]["values"]["global"]["platform"] == "openshift"
    assert releases["istiod"]["values"]["pilot"]["env"] == {"ENABLE_NATIVE_SIDECARS": "true"}
    gateway = releases["gateway"]
    assert gateway["values"]["service"] == {"type": "ClusterIP"}
    assert (gateway["atomic"], gateway["skipAwait"], gateway["timeout"]) == (False, True, 900)


BAD_REAL_CLUSTER: list[tuple[dict[str, Any], str, str, str]] = [
    (
        {"platform": "eks"},
        "mesh.platform",
        "eks",
        "'gke', 'k3d', 'k3s', 'microk8s', 'minikube' or 'openshift'",
    ),
    ({"nativeSidecars": "yes"}, "mesh.nativeSidecars", "yes", "'auto', 'true' or 'false'"),
    # NodePort: refused for the gateway as the policy pack refuses it for every Service.
    (
        {"gateway": {"serviceType": "NodePort"}},
        "mesh.gateway.serviceType",
        "NodePort",
        "'LoadBalancer' or 'ClusterIP'",
    ),
    ({"gateway": {"wait": "maybe"}}, "mesh.gateway.wait", "maybe", "valid boolean"),
    (
        {"gateway": {"waitTimeout": 5}},
        "mesh.gateway.waitTimeout",
        "5",
        "seconds between 30 and 3600",
    ),
]


# The public entry in production (issue 15, item 3): cert-manager's certificate for the gateway's
# credential, seed 001's rate limiting and security headers on every public host, the operator
# frontend's route (seed 004), and settings that cannot apply with the mesh refused.


def settings_of(stack: str) -> Any:
    from stacks.config import load_settings, project_values
    from tools.offline import engine_value, stack_config

    values = {k: engine_value(v) for k, v in stack_config(stack).items()}
    return load_settings(project_values(values))


def gateway_hosts(recording: Recording) -> list[str]:
    (gateway,) = customs(recording, "Gateway").values()
    (https,) = [s for s in gateway["spec"]["servers"] if s["port"]["protocol"] == "HTTPS"]
    return sorted(https["hosts"])


def test_cert_manager_issues_the_gateway_credential_for_every_public_host() -> None:
    from dataclasses import replace

    from components.mesh import Issuer

    args = replace(ARGS, gateway=replace(ARGS.gateway, issuer=Issuer("Issuer", "internal-ca")))
    recording = run_program(lambda: ServiceMesh("mesh", args))
    (certificate,) = customs(recording, "Certificate").values()
    assert certificate["apiVersion"] == "cert-manager.io/v1"
    # The gateway reads its credential from the namespace of the gateway's pods.
    assert certificate["metadata"]["namespace"] == "istio-ingress"
    assert certificate["spec"]["secretName"] == "trading-tls"
    assert certificate["spec"]["dnsNames"] == sorted({r.host for r in ARGS.gateway.routes})
    assert certificate["spec"]["issuerRef"] == {
        "group": "cert-manager.io",
        "kind": "Issuer",
        "name": "internal-ca",
    }
    # Without an issuer the Secret comes from elsewhere: no Certificate.
    assert customs(run_program(lambda: ServiceMesh("mesh", ARGS)), "Certificate") == {}


@pytest.mark.parametrize("stack_name", ["staging", "prod"])
def test_production_gateway_credential_is_issued_for_the_hosts_it_serves(stack_name: str) -> None:
    recording = run_stack(stack_name)
    settings = settings_of(stack_name)
    (certificate,) = customs(recording, "Certificate").values()
    (gateway,) = customs(recording, "Gateway").values()
    (https,) = [s for s in gateway["spec"]["servers"] if s["port"]["protocol"] == "HTTPS"]
    assert certificate["spec"]["secretName"] == https["tls"]["credentialName"]
    assert certificate["spec"]["dnsNames"] == gateway_hosts(recording)
    gateway_release = releases_of(recording)["gateway"]
    assert certificate["metadata"]["namespace"] == gateway_release["namespace"]
    issuer = settings.mesh.gateway.issuer
    assert certificate["spec"]["issuerRef"]["name"] == issuer.name
    assert certificate["spec"]["issuerRef"]["kind"] == issuer.kind
    # Created once the gateway's namespace exists (after the Istio charts).
    (registration,) = [r for r in recording.resources if r.type.endswith(":Certificate")]
    (release,) = [r for r in recording.resources if r.inputs.get("chart") == "gateway"]
    assert release.urn in registration.dependencies


def test_every_public_host_sends_the_security_headers(prod: Recording) -> None:
    settings = settings_of("prod")
    expected = {**settings.api.security_headers, "Strict-Transport-Security": "max-age=31536000"}
    services = [v for v in customs(prod, "VirtualService").values() if v["spec"].get("gateways")]
    assert sorted(h for v in services for h in v["spec"]["hosts"]) == gateway_hosts(prod)
    for service in services:
        for route in service["spec"]["http"]:
            assert route["headers"]["response"]["set"] == expected, route["name"]


def test_security_headers_can_be_switched_off() -> None:
    recording = run_stack("prod", {"mesh": {"gateway": {"securityHeaders": False}}})
    for service in customs(recording, "VirtualService").values():
        assert all("headers" not in route for route in service["spec"]["http"])


def test_one_rate_limit_on_the_gateway_covers_every_public_host() -> None:
    overrides = {
        "mesh": {"enabled": True, "gateway": {"rateLimit": {"rps": 7, "burstMultiplier": 3}}}
    }
    recording = run_stack("dev", overrides)
    (limit,) = customs(recording, "EnvoyFilter").values()
    (gateway,) = customs(recording, "Gateway").values()
    # In the gateway's namespace (an EnvoyFilter binds workloads of its own namespace), on the
    # pods the Gateway selects, for every listener of the gateway: no host or route match.
    assert limit["metadata"]["namespace"] == releases_of(recording)["gateway"]["namespace"]
    assert limit["spec"]["workloadSelector"]["labels"] == gateway["spec"]["selector"]
    (patch,) = limit["spec"]["configPatches"]
    assert patch["applyTo"] == "HTTP_FILTER"
    assert patch["match"]["context"] == "GATEWAY"
    assert set(patch["match"]) == {"context", "listener"}
    assert patch["patch"]["operation"] == "INSERT_BEFORE"
    assert patch["match"]["listener"]["filterChain"]["filter"]["subFilter"] == {
        "name": "envoy.filters.http.router"
    }
    config = patch["patch"]["value"]["typed_config"]
    assert config["@type"].endswith("local_ratelimit.v3.LocalRateLimit")
    assert config["token_bucket"] == {"max_tokens": 21, "tokens_per_fill": 7, "fill_interval": "1s"}
    for toggle in ("filter_enabled", "filter_enforced"):
        assert config[toggle]["default_value"] == {"numerator": 100, "denominator": "HUNDRED"}


def test_production_rate_limits_its_gateway(prod: Recording) -> None:
    limit = settings_of("prod").mesh.gateway.rate_limit
    (envoy_filter,) = customs(prod, "EnvoyFilter").values()
    assert envoy_filter["apiVersion"] == "networking.istio.io/v1alpha3"
    bucket = envoy_filter["spec"]["configPatches"][0]["patch"]["value"]["typed_config"]
    assert bucket["token_bucket"]["tokens_per_fill"] == limit.rps
    recording = run_stack("prod", {"mesh": {"gateway": {"rateLimit": None}}})
    assert customs(recording, "EnvoyFilter") == {}


def test_public_operator_frontend_is_routed_and_authorized_through_the_gateway(
    prod: Recording,
) -> None:
    settings = settings_of("prod")
    frontend = settings.ui.frontend
    assert frontend.enabled and frontend.public
    service = f"aegis-trader-{frontend.component}"
    fqdn = f"{service}.trading-prod.svc.cluster.local"
    destinations = [
        (host, route["route"][0]["destination"])
        for v in customs(prod, "VirtualService").values()
        for host in v["spec"]["hosts"]
        for route in v["spec"]["http"]
    ]
    hosts = [h for h, d in destinations if d == {"host": fqdn, "port": {"number": frontend.port}}]
    assert hosts and set(hosts) <= set(gateway_hosts(prod))
    policy = customs(prod, "AuthorizationPolicy")[service]["spec"]
    principals = [
        p for rule in policy["rules"] for s in rule["from"] for p in s["source"]["principals"]
    ]
    assert "cluster.local/ns/istio-ingress/sa/istio-ingressgateway" in principals
    netpol = prod.get("NetworkPolicy", service).manifest()["spec"]
    admitted = [
        peer
        for rule in netpol["ingress"]
        for peer in rule["from"]
        if peer.get("namespaceSelector", {})
        .get("matchLabels", {})
        .get("kubernetes.io/metadata.name")
        == "istio-ingress"
    ]
    assert admitted, "the gateway's pods may not reach the frontend"


def test_public_frontend_needs_a_gateway_route() -> None:
    assert_rejected(
        {"mesh": {"enabled": True}, "ui": {"frontend": {"enabled": True}}},
        "ui.frontend.public",
        "True",
        "needs a mesh.gateway.routes entry with service 'operator-ui'",
    )


def test_route_to_a_private_frontend_is_refused() -> None:
    assert_rejected(
        {"ui": {"frontend": {"public": False}}},
        "mesh.gateway.routes.3.service",
        "operator-ui",
        "not public (ui.frontend.public: false)",
        stack="prod",
    )


BAD_PUBLIC_ENTRY: list[tuple[dict[str, Any], str, str, str]] = [
    (
        {"gateway": {"issuer": {"kind": "Vault", "name": "x"}}},
        "mesh.gateway.issuer.kind",
        "Vault",
        "'ClusterIssuer' or 'Issuer'",
    ),
    (
        {"gateway": {"issuer": {"name": "Not_A_Name"}}},
        "mesh.gateway.issuer.name",
        "Not_A_Name",
        "DNS-1123 label",
    ),
    (
        {"gateway": {"rateLimit": {"rps": 0, "burstMultiplier": 2}}},
        "mesh.gateway.rateLimit.rps",
        "0",
        "between 1 and",
    ),
]


ALL_BAD = [*BAD, *BAD_REAL_CLUSTER, *BAD_PUBLIC_ENTRY]


@pytest.mark.parametrize(("mesh", "key", "value", "allowed"), ALL_BAD, ids=[b[1] for b in ALL_BAD])
def test_bad_mesh_settings_fail_before_any_resource(
    mesh: dict[str, Any], key: str, value: str, allowed: str
) -> None:
    assert_rejected({"mesh": mesh}, key, value, allowed)


# One identity per service (issue 13, item 4): the balancer is graph `balancer`, component
# `nginx`; `mesh.optOut` takes either and applies to both its pods and its policy.

DEFAULT_OPT_OUT = ["nats", "redis", "hft-engine"]
BALANCER = "aegis-trader-nginx"


def with_opt_out(entry: str, mtls: str = "PERMISSIVE") -> dict[str, Any]:
    # STRICT refuses it: the balancer calls the meshed backend (below).
    return {"mesh": {"enabled": True, "mtlsMode": mtls, "optOut": [*DEFAULT_OPT_OUT, entry]}}


@functools.cache
def opted_out(entry: str) -> Recording:
    """The dev stack with the mesh on and the balancer opted out as `entry` (run once)."""
    return run_stack("dev", with_opt_out(entry))


def policy_targets(recording: Recording) -> set[str]:
    return {
        p.manifest()["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"]
        for p in recording.of_kind("AuthorizationPolicy")
        if p.manifest()["spec"]
    }


@pytest.mark.parametrize("entry", ["balancer", "nginx"])
def test_opting_the_balancer_out_removes_its_sidecar_and_its_policy(entry: str) -> None:
    """Before, `balancer` dropped the policy but kept the sidecar (allow-nothing then refused the
    gateway), and `nginx` was rejected."""
    recording = opted_out(entry)
    pod = recording.get("Deployment", BALANCER).manifest()["spec"]["template"]["metadata"]
    assert pod["annotations"]["sidecar.istio.io/inject"] == "false"
    assert pod["labels"]["istio.io/dataplane-mode"] == "none"
    targets = policy_targets(recording)
    assert "nginx" not in targets
    # Its callee stays in the mesh with both: a sidecar and its ALLOW policy.
    assert "backend" in targets
    backend = recording.get("Deployment", "aegis-trader-backend").manifest()["spec"]["template"]
    assert "sidecar.istio.io/inject" not in backend["metadata"].get("annotations", {})


def test_both_names_of_the_balancer_opt_out_the_same() -> None:
    by_name, by_component = (
        {r.urn: r.manifest() for r in opted_out(entry).kubernetes_objects()}
        for entry in ("balancer", "nginx")
    )
    assert by_name == by_component


def test_in_the_mesh_the_balancer_keeps_its_sidecar_and_policy() -> None:
    recording = run_stack("dev", {"mesh": {"enabled": True}})
    pod = recording.get("Deployment", BALANCER).manifest()["spec"]["template"]["metadata"]
    assert "sidecar.istio.io/inject" not in pod.get("annotations", {})
    assert "nginx" in policy_targets(recording)


def test_strict_mtls_refuses_the_balancer_out_of_the_mesh_by_either_name() -> None:
    for entry in ("balancer", "nginx"):
        message = assert_rejected(
            with_opt_out(entry, "STRICT"), "mesh.optOut", "balancer", "accepts only mTLS"
        )
        assert "nginx" in message  # the Kubernetes name the operator sees, too


def test_opt_out_of_an_unknown_service_lists_both_names() -> None:
    message = assert_rejected(
        with_opt_out("ghost"), "mesh.optOut", "ghost", "by its name or Kubernetes component"
    )
    assert "balancer (nginx)" in message


def test_every_graph_node_is_its_components_kubernetes_identity() -> None:
    """URLs, selectors and mesh principals derive from the node's component."""
    graph = graph_of("prod")
    assert graph["balancer"].component == "nginx"
    for name in graph.names:
        node = graph[name]
        assert node.host == f"aegis-trader-{node.component}", name
        assert node.service_account == node.host, name
        assert node.selector["app.kubernetes.io/name"] == node.component, name
        if node.ports:
            assert node.url.split("://")[1].startswith(f"{node.host}:"), name
