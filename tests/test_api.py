"""API tier: seed 002's backend and least-connections balancer, seed 004's backend HPA, and the
seed 001 Ingress (TLS, rate limits, security headers)."""

from __future__ import annotations

from typing import Any

import pytest

from components.api import (
    Api,
    ApiArgs,
    BackendArgs,
    BalancerArgs,
    IngressArgs,
    IngressBackend,
    IngressRateLimit,
    IngressTls,
    api_nodes,
    backend_env,
)
from components.endpoints import BusEndpoint, CacheEndpoint, DatabaseEndpoint
from components.engine import engine_nodes
from components.graph import DependencyGraph, Node, ServicePort
from components.messaging import bus_nodes
from components.workload import Platform, Resources, SecretEnv
from stacks.config import load_settings
from stacks.graph import build_graph
from tests.conftest import KUBERNETES_VERSIONS
from tests.helpers import (
    assert_rejected,
    container,
    env_of,
    manifest,
    pod_spec,
    production,
    secret_file,
)
from tests.kubeschema import validate as validate_strict
from tests.kubeschema import validate_each
from tools.offline import Recording, run_program, run_stack

BACKEND = "aegis-trader-backend"
NGINX = "aegis-trader-nginx"
INGRESS = {
    "enabled": True,
    "apiHost": "api.trading.example.com",
    "uiHost": "trading.example.com",
}


@pytest.fixture(scope="module")
def with_ingress() -> Recording:
    # Without the mesh: with it, the mesh gateway publishes the hosts instead (and the balancer
    # may then be seed 002's LoadBalancer).
    api = {"ingress": INGRESS, "balancer": {"serviceType": "LoadBalancer"}}
    return run_stack("prod", {"api": api, "mesh": {"enabled": False}})


def nginx_conf(recording: Recording) -> str:
    conf: str = manifest(recording, "ConfigMap", NGINX)["data"]["nginx.conf"]
    return conf


def test_backend_serves_fastapi_on_8000_with_4_uvicorn_workers(stack: Recording) -> None:
    backend = container(stack, "Deployment", BACKEND, "backend")
    assert backend["ports"] == [{"name": "http", "containerPort": 8000, "protocol": "TCP"}]
    command = backend["command"]
    assert command[:2] == ["uvicorn", "app.main:app"]
    assert command[command.index("--workers") + 1] == "4"
    assert command[command.index("--port") + 1] == "8000"
    assert env_of(backend)["UVICORN_WORKERS"] == "4"
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert backend[probe]["httpGet"] == {"path": "/health", "port": "http"}
    service = manifest(stack, "Service", BACKEND)["spec"]
    assert [(p["port"], p["protocol"]) for p in service["ports"]] == [(8000, "TCP")]


def test_backend_is_told_the_stores_bus_and_engine_shards(stack: Recording) -> None:
    backend = container(stack, "Deployment", BACKEND, "backend")
    pod = pod_spec(stack, "Deployment", BACKEND)
    env = env_of(backend)
    assert env["NATS_URL"] == "nats://aegis-trader-nats:4222"
    assert env["POSTGRES_HOST"] == stack.outputs["postgres"]["host"]
    # Seed 002's backend: its own database and role, its password a file of its own Secret.
    database = stack.outputs["postgres"]["databases"]["backend"]
    assert (env["POSTGRES_DB"], env["POSTGRES_USER"]) == ("trading_db", "trading_user")
    assert (database["database"], database["user"]) == ("trading_db", "trading_user")
    password = secret_file(pod, backend, env["POSTGRES_PASSWORD_FILE"])
    assert password == (database["secret"], "password")
    assert env["SERVICE_POSTGRES_URL"] == (
        f"postgresql://trading_user@{stack.outputs['postgres']['host']}:5432/trading_db"
    )
    assert env["REDIS_HOST"] == stack.outputs["redis"]["host"]
    redis = secret_file(pod, backend, env["REDIS_PASSWORD_FILE"])
    assert redis == (stack.outputs["redis"]["secret"], "password")
    if production(stack):  # NATS requires credentials there
        nats = secret_file(pod, backend, env["NATS_PASSWORD_FILE"])
        assert nats == (stack.outputs["natsCredentialsSecret"], "password")
    shards = stack.outputs["engineShards"]
    assert env["ENGINE_SHARDS"] == ",".join(shards)
    assert env["ENGINE_SHARD_COUNT"] == str(len(shards))
    assert env["SERVICE_HFT_ENGINE_0_URL"] == "grpc://aegis-trader-hft-engine-0:50051"


def test_local_backend_is_one_replica_at_seed_002s_size(dev: Recording) -> None:
    deployment = manifest(dev, "Deployment", BACKEND)
    assert deployment["spec"]["replicas"] == 1
    backend = container(dev, "Deployment", BACKEND, "backend")
    assert backend["resources"] == {
        "requests": {"cpu": "150m", "memory": "64Mi"},
        "limits": {"cpu": "300m", "memory": "128Mi"},
    }
    assert [r.object_name for r in dev.of_kind("HorizontalPodAutoscaler")].count(BACKEND) == 0


def test_production_backend_autoscales_as_seed_004s_backend(prod: Recording) -> None:
    hpa = manifest(prod, "HorizontalPodAutoscaler", BACKEND)["spec"]
    assert hpa["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": BACKEND}
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (2, 10)
    assert hpa["metrics"] == [
        {
            "type": "Resource",
            "resource": {
                "name": "cpu",
                "target": {"type": "Utilization", "averageUtilization": 70},
            },
        },
        {
            "type": "Pods",
            "pods": {
                "metric": {"name": "requests_per_second"},
                "target": {"type": "AverageValue", "averageValue": "50"},
            },
        },
    ]
    assert hpa["behavior"] == {
        "scaleUp": {"stabilizationWindowSeconds": 60},
        "scaleDown": {"stabilizationWindowSeconds": 300},
    }
    assert "spec.replicas" in prod.get("Deployment", BACKEND).ignore_changes
    assert manifest(prod, "PodDisruptionBudget", BACKEND)["spec"]["maxUnavailable"] == 1


def test_balancer_is_least_connections_nginx_on_8080(stack: Recording) -> None:
    conf = nginx_conf(stack)
    upstream = conf[conf.index("upstream backend {") : conf.index("}", conf.index("upstream"))]
    assert "least_conn;" in upstream
    # The headless Service's pod addresses, re-resolved as the HPA adds pods.
    namespace = manifest(stack, "Deployment", NGINX)["metadata"]["namespace"]
    host = f"{BACKEND}-headless.{namespace}.svc.cluster.local"
    assert f"server {host}:8000 resolve;" in upstream
    assert "listen 8080;" in conf
    assert "location = /health {" in conf
    assert 'return 200 "ok\\n";' in conf
    assert "pid /tmp/nginx.pid;" in conf
    assert 'add_header X-Frame-Options "DENY" always;' in conf
    headless = manifest(stack, "Service", f"{BACKEND}-headless")["spec"]
    assert headless["clusterIP"] == "None"
    assert headless["selector"] == {
        "app.kubernetes.io/name": "backend",
        "app.kubernetes.io/instance": "aegis-trader",
    }


def test_balancer_runs_unprivileged_nginx_with_its_config_mounted(stack: Recording) -> None:
    nginx = container(stack, "Deployment", NGINX, "nginx")
    assert nginx["image"] == "nginxinc/nginx-unprivileged:1.29.1-alpine"
    assert nginx["command"] == [
        "nginx",
        "-c",
        "/etc/nginx/trading/nginx.conf",
        "-g",
        "daemon off;",
    ]
    assert nginx["ports"] == [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]
    assert nginx["livenessProbe"]["httpGet"] == {"path": "/health", "port": "http"}
    assert nginx["securityContext"]["readOnlyRootFilesystem"] is True
    mounts = {m["mountPath"] for m in nginx["volumeMounts"]}
    assert {"/tmp", "/var/cache/nginx", "/etc/nginx/trading"} <= mounts
    template = manifest(stack, "Deployment", NGINX)["spec"]["template"]
    assert template["metadata"]["annotations"]["checksum/config"]  # pods roll on change
    volumes = pod_spec(stack, "Deployment", NGINX)["volumes"]
    assert {"name": "config", "configMap": {"name": NGINX}} in volumes


def test_local_balancer_is_clusterip_for_port_forward(dev: Recording) -> None:
    service = manifest(dev, "Service", NGINX)["spec"]
    assert service["type"] == "ClusterIP"
    assert [(p["name"], p["port"]) for p in service["ports"]] == [("http", 8080)]
    nginx = container(dev, "Deployment", NGINX, "nginx")
    assert nginx["resources"]["limits"] == {"cpu": "200m", "memory": "128Mi"}
    assert dev.outputs["balancerService"] == NGINX
    assert dev.outputs["balancerPort"] == 8080
    assert dev.of_kind("Ingress") == []


def test_production_balancer_sits_behind_the_mesh_gateway(prod: Recording) -> None:
    assert manifest(prod, "Service", NGINX)["spec"]["type"] == "ClusterIP"
    assert f"{NGINX}-public" not in {p.object_name for p in prod.of_kind("NetworkPolicy")}
    assert manifest(prod, "Deployment", NGINX)["spec"]["replicas"] == 2


def test_without_the_mesh_the_balancer_is_a_loadbalancer_open_to_outside(
    with_ingress: Recording,
) -> None:
    plain = with_ingress
    assert manifest(plain, "Service", NGINX)["spec"]["type"] == "LoadBalancer"
    public = manifest(plain, "NetworkPolicy", f"{NGINX}-public")["spec"]
    assert public["ingress"] == [
        {"from": [{"ipBlock": {"cidr": "0.0.0.0/0"}}], "ports": [{"protocol": "TCP", "port": 8080}]}
    ]


def test_a_loadbalancer_next_to_the_mesh_is_refused() -> None:
    assert_rejected(
        {"mesh": {"enabled": True}, "api": {"balancer": {"serviceType": "LoadBalancer"}}},
        "api.balancer.serviceType",
        "LoadBalancer",
        "must be ClusterIP while mesh.enabled",
    )


def test_network_policies_follow_the_graph(stack: Recording) -> None:
    def sources(name: str) -> set[str]:
        spec = manifest(stack, "NetworkPolicy", name)["spec"]
        return {
            rule["from"][0]["podSelector"]["matchLabels"].get("app.kubernetes.io/name", "*")
            for rule in spec["ingress"]
        }

    assert "nginx" in sources(BACKEND)
    egress = manifest(stack, "NetworkPolicy", BACKEND)["spec"]["egress"]
    targets = {r["to"][0]["podSelector"]["matchLabels"]["app.kubernetes.io/name"] for r in egress}
    assert {"postgres", "redis", "nats", "hft-engine-0"} <= targets
    nginx_egress = manifest(stack, "NetworkPolicy", NGINX)["spec"]["egress"]
    assert nginx_egress == [
        {
            "to": [
                {
                    "podSelector": {
                        "matchLabels": {
                            "app.kubernetes.io/name": "backend",
                            "app.kubernetes.io/instance": "aegis-trader",
                        }
                    }
                }
            ],
            "ports": [{"protocol": "TCP", "port": 8000}],
        }
    ]


def test_ingress_publishes_the_api_with_tls_rate_limits_and_headers(
    with_ingress: Recording,
) -> None:
    ingress = manifest(with_ingress, "Ingress", "aegis-trader-api")
    annotations = ingress["metadata"]["annotations"]
    assert annotations["cert-manager.io/cluster-issuer"] == "letsencrypt-prod"
    assert annotations["nginx.ingress.kubernetes.io/limit-rps"] == "50"
    assert annotations["nginx.ingress.kubernetes.io/limit-connections"] == "20"
    assert annotations["nginx.ingress.kubernetes.io/force-ssl-redirect"] == "true"
    assert (
        annotations["nginx.ingress.kubernetes.io/custom-headers"]
        == "trading-prod/aegis-trader-api-response-headers"
    )
    headers = manifest(with_ingress, "ConfigMap", "aegis-trader-api-response-headers")["data"]
    assert headers["X-Content-Type-Options"] == "nosniff"
    spec = ingress["spec"]
    assert spec["ingressClassName"] == "nginx"
    api, ui = spec["rules"]
    assert api["host"] == "api.trading.example.com"
    assert api["http"]["paths"][0]["backend"] == {
        "service": {"name": NGINX, "port": {"number": 8080}}
    }
    # The UI host goes to the UI tier's monitor UI (as the mesh gateway's UI route does).
    assert ui["host"] == "trading.example.com"
    assert ui["http"]["paths"][0]["backend"] == {
        "service": {"name": "aegis-trader-monitor-ui", "port": {"number": 3100}}
    }
    hosts = ["api.trading.example.com", "trading.example.com"]
    assert spec["tls"] == [{"hosts": hosts, "secretName": "aegis-trader-api-tls"}]
    assert with_ingress.outputs["ingressHosts"] == hosts
    # The ingress controller may reach the balancer and the routed UI.
    for name in (NGINX, "aegis-trader-monitor-ui"):
        policy = manifest(with_ingress, "NetworkPolicy", name)["spec"]
        namespaces = [
            r["from"][0].get("namespaceSelector", {}).get("matchLabels", {})
            for r in policy["ingress"]
        ]
        assert {"kubernetes.io/metadata.name": "ingress-nginx"} in namespaces, name


def test_with_the_mesh_the_ingress_is_refused_not_dropped() -> None:
    """The gateway is the public entry with the mesh on: an enabled Ingress would render
    nothing, so the setting is refused before any resource exists."""
    assert_rejected(
        {"api": {"ingress": INGRESS}, "mesh": {"enabled": True}},
        "api.ingress.enabled",
        "True",
        "must be false while mesh.enabled",
        stack="prod",
    )


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_ingress_objects_validate_strictly(with_ingress: Recording, version: str) -> None:
    kinds = ("Ingress", "ConfigMap", "NetworkPolicy")
    objects = [r.manifest() for kind in kinds for r in with_ingress.of_kind(kind)]
    validate_each(objects, version)


# --- the component on explicit args -------------------------------------------------------

PLATFORM = Platform(release="rel", namespace="ns", version="1.0.0")
STORES = [
    Node("postgres", "rel-postgres", (ServicePort("postgres", 5432),), {"n": "pg"}, "rel-pg"),
    Node("redis", "rel-redis", (ServicePort("redis", 6379),), {"n": "redis"}, "rel-redis"),
]
GRAPH = DependencyGraph(
    [
        *STORES,
        *bus_nodes(PLATFORM),
        *engine_nodes(PLATFORM, 2),
        *api_nodes(PLATFORM, 2, backend_port=8000, balancer_port=8080),
    ]
)
SMALL = Resources("10m", "16Mi", "100m", "64Mi")


def api_args(**overrides: Any) -> ApiArgs:
    base = ApiArgs(
        platform=PLATFORM,
        graph=GRAPH,
        backend=BackendArgs(
            image="hft-backend:1",
            resources=SMALL,
            workers=4,
            app_module="app.main:app",
            port=8000,
            replicas=1,
            autoscaling=None,
        ),
        balancer=BalancerArgs(
            image="nginx:1",
            resources=SMALL,
            port=8080,
            replicas=1,
            service_type="ClusterIP",
            resolver="kube-dns.kube-system.svc.cluster.local",
            cluster_domain="cluster.local",
            worker_connections=1024,
        ),
        engine_shards=("rel-hft-engine-0:50051", "rel-hft-engine-1:50051"),
        bus=BusEndpoint(
            "nats://rel-nats:4222",
            "registry",
            "nats-box:1",
            SMALL,
            credentials_secret="rel-nats-auth",
        ),
        database=DatabaseEndpoint("rel-postgres", 5432, "trading", "app", "rel-postgres-app"),
        cache=CacheEndpoint("rel-redis", 6379, "rel-redis-auth"),
        ingress=IngressArgs(
            api_host="api.example.com",
            class_name="nginx",
            ui_host="ui.example.com",
            ui_backend=IngressBackend("rel-operator-ui", 3000),
            tls=IngressTls(issuer="letsencrypt", secret_name=None),
            rate_limit=IngressRateLimit(rps=50, burst_multiplier=5, connections=20),
            security_headers=True,
        ),
        security_headers={"X-Frame-Options": "DENY"},
    )
    return ApiArgs(**{**base.__dict__, **overrides})


def test_backend_env_names_credential_files_and_urls_without_passwords() -> None:
    env = backend_env(api_args())
    # The endpoint's URL (with its role) wins over the graph's plain one; no password in it.
    assert env["SERVICE_POSTGRES_URL"] == "postgresql://app@rel-postgres:5432/trading"
    assert env["POSTGRES_PASSWORD_FILE"] == "/run/secrets/postgres/password"
    assert env["SERVICE_REDIS_URL"] == "redis://rel-redis:6379"
    assert env["REDIS_PASSWORD_FILE"] == "/run/secrets/redis/password"
    assert env["NATS_PASSWORD_FILE"] == "/run/secrets/nats/password"
    assert not [k for k, v in env.items() if isinstance(v, SecretEnv)]
    recording = run_program(lambda: Api("api", api_args()))
    pod = recording.get("Deployment", "rel-backend").manifest()["spec"]["template"]["spec"]
    (backend,) = pod["containers"]
    secrets = {
        secret_file(pod, backend, str(env[k]))
        for k in ("POSTGRES_PASSWORD_FILE", "REDIS_PASSWORD_FILE", "NATS_PASSWORD_FILE")
    }
    assert secrets == {
        ("rel-postgres-app", "password"),
        ("rel-redis-auth", "password"),
        ("rel-nats-auth", "password"),
    }
    assert env["ENGINE_SHARDS"] == "rel-hft-engine-0:50051,rel-hft-engine-1:50051"
    assert env["SERVICE_HFT_ENGINE_1_URL"] == "grpc://rel-hft-engine-1:50051"


def test_backend_calls_stores_bus_and_every_shard_and_the_balancer_is_public() -> None:
    assert GRAPH["backend"].calls == ("postgres", "redis", "nats", "hft-engine-0", "hft-engine-1")
    assert GRAPH["balancer"].calls == ("backend",)
    assert GRAPH["balancer"].public
    assert GRAPH.startup_order().index("backend") < GRAPH.startup_order().index("balancer")


def test_ingress_routes_the_ui_host_to_the_ui_service() -> None:
    recording = run_program(lambda: Api("api", api_args()))
    (ingress,) = recording.of_kind("Ingress")
    spec = ingress.manifest()["spec"]
    assert [r["host"] for r in spec["rules"]] == ["api.example.com", "ui.example.com"]
    assert spec["rules"][1]["http"]["paths"][0]["backend"]["service"] == {
        "name": "rel-operator-ui",
        "port": {"number": 3000},
    }
    assert spec["tls"][0]["hosts"] == ["api.example.com", "ui.example.com"]
    for version in KUBERNETES_VERSIONS:
        validate_strict(ingress.manifest(), version)


def test_no_ingress_when_the_stack_gives_the_role_to_the_mesh() -> None:
    recording = run_program(lambda: Api("api", api_args(ingress=None)))
    assert recording.of_kind("Ingress") == []
    assert [r.object_name for r in recording.of_kind("ConfigMap")] == ["rel-nginx"]


def api_settings_args(api: dict[str, Any]) -> ApiArgs:
    settings = load_settings(
        {
            "profile": "local",
            "release": "rel",
            "namespace": "ns",
            "kubeContext": "kind",
            "api": api,
            "ui": {"frontend": {"enabled": True}},
        }
    )
    graph = build_graph(settings)
    bus = BusEndpoint("nats://rel-nats:4222", "registry", "nats-box:1", SMALL)
    return settings.api.build(
        PLATFORM, graph, settings.images, engine_shards=(), bus=bus, database=None, cache=None
    )


def test_api_settings_build_the_ingress_args_nested_as_the_settings() -> None:
    """Each `api.ingress` setting reaches its group of the args: TLS (issuer, Secret), the rate
    limits, the UI route from the graph; a disabled Ingress or TLS is None."""
    ingress = {
        **INGRESS,
        "className": "public",
        "uiService": "operator-ui",
        "tls": {"enabled": True, "issuer": "internal-ca", "secretName": "api-cert"},
        "rateLimit": {"rps": 7, "burstMultiplier": 3, "connections": 9},
        "securityHeaders": False,
    }
    args = api_settings_args({"ingress": ingress, "backend": {"workers": 2}})
    assert args.ingress == IngressArgs(
        api_host="api.trading.example.com",
        class_name="public",
        ui_host="trading.example.com",
        ui_backend=IngressBackend("rel-operator-ui", 3000),
        tls=IngressTls(issuer="internal-ca", secret_name="api-cert"),
        rate_limit=IngressRateLimit(rps=7, burst_multiplier=3, connections=9),
        security_headers=False,
    )
    assert (args.backend.workers, args.backend.port, args.balancer.port) == (2, 8000, 8080)
    plain = api_settings_args({"ingress": {**INGRESS, "tls": {"enabled": False}}})
    assert plain.ingress is not None and plain.ingress.tls is None
    assert api_settings_args({"ingress": {**INGRESS, "enabled": False}}).ingress is None


BAD: list[tuple[dict[str, Any], str, str, str]] = [
    ({"backend": {"workers": 0}}, "api.backend.workers", "0", "between 1 and 64"),
    (
        {"backend": {"autoscaling": {"minReplicas": 5, "maxReplicas": 2, "cpuPercent": 70}}},
        "api.backend.autoscaling",
        "'minReplicas': 5",
        "minReplicas must be at most maxReplicas",
    ),
    (
        {"backend": {"autoscaling": {"minReplicas": 2, "maxReplicas": 4, "cpuPercent": 150}}},
        "api.backend.autoscaling.cpuPercent",
        "150",
        "a percentage between 1 and 100",
    ),
    (
        {"backend": {"autoscaling": {"minReplicas": 2, "maxReplicas": 4, "cpuPercent": 0}}},
        "api.backend.autoscaling.cpuPercent",
        "0",
        "a percentage between 1 and 100",
    ),
    (
        {"balancer": {"serviceType": "NodePort"}},
        "api.balancer.serviceType",
        "NodePort",
        "ClusterIP",
    ),
    (
        {"balancer": {"serviceType": "Loadbalancer"}},
        "api.balancer.serviceType",
        "Loadbalancer",
        "LoadBalancer",
    ),
    ({"balancer": {"port": 80}}, "api.balancer.port", "80", "between 1024 and 65535"),
    ({"backend": {"port": 0}}, "api.backend.port", "0", "between 1 and 65535"),
    (
        {"ingress": {"tls": {"enabled": True}}},
        "api.ingress.tls",
        "True",
        "TLS is enabled without an issuer",
    ),
    ({"ingress": {"enabled": True}}, "api.ingress", "True", "without apiHost"),
    (
        {"ingress": {"apiHost": "API.example.com"}},
        "api.ingress.apiHost",
        "API.example.com",
        "fully qualified DNS name",
    ),
    (
        {"ingress": {**INGRESS, "uiService": "ghost"}},
        "api.ingress.uiService",
        "ghost",
        "known services: ",
    ),
    ({"backend": {"appModule": "main"}}, "api.backend.appModule", "main", "module:attribute"),
    (
        {"securityHeaders": {"X-Frame-Options": 'DENY"; evil'}},
        "api.securityHeaders",
        "DENY",
        "contain no quotes",
    ),
]


@pytest.mark.parametrize(("api", "key", "value", "allowed"), BAD, ids=[str(b[0]) for b in BAD])
def test_bad_api_config_fails_before_any_resource(
    api: dict[str, Any], key: str, value: str, allowed: str
) -> None:
    assert_rejected({"api": api}, key, value, allowed)
