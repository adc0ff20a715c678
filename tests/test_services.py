"""Trading services: seed 001's ten services from the catalogue on both recorded stacks, the
scaling of seeds 000/001/003/004, the wiring from the graph, and catalogue edits from config."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from components.quantities import parse_bytes, parse_cpu
from components.services import TradingService, service_nodes
from components.workload import Platform, Resources
from stacks.settings.services import catalogue
from tests.helpers import (
    assert_rejected,
    container,
    env_of,
    manifest,
    pod_spec,
    production,
    secret_file,
)
from tools.offline import Recording, run_stack
from tools.summary import totals

RELEASE = "aegis-trader"
PORTS = {
    "data-ingestor": 8081,
    "indicator-engine": 8082,
    "signal-generator": 8083,
    "risk-manager": 8084,
    "execution-engine": 8085,
    "calendar-ingestor": 8086,
    "reentry-matrix-svc": 8087,
    "reporter": 8088,
    "gui-gateway": 8080,
    "compliance-monitor": 9201,
}
# Seed 001's resource table: requests then limits.
SEED_001 = {
    "data-ingestor": ("200m", "256Mi", "500m", "512Mi"),
    "indicator-engine": ("300m", "512Mi", "700m", "1Gi"),
    "signal-generator": ("200m", "256Mi", "500m", "512Mi"),
    "risk-manager": ("300m", "512Mi", "700m", "1Gi"),
    "execution-engine": ("200m", "256Mi", "500m", "512Mi"),
    "gui-gateway": ("200m", "256Mi", "500m", "512Mi"),
}
# Production autoscalers: seed 001 (signal-generator), seed 003 by stage, seed 004 (scraper).
HPAS = {
    "signal-generator": (2, 10, 70),
    "indicator-engine": (2, 10, 70),  # processing
    "reporter": (5, 20, 60),  # analysis
    "gui-gateway": (2, 5, 70),  # api
    "calendar-ingestor": (2, 5, 60),  # scraper
}


def full(name: str) -> str:
    return f"{RELEASE}-{name}"


def resources(request_cpu: str, request_mem: str, limit_cpu: str, limit_mem: str) -> Any:
    return {
        "requests": {"cpu": request_cpu, "memory": request_mem},
        "limits": {"cpu": limit_cpu, "memory": limit_mem},
    }


def test_catalogue_is_data_with_seed_001_ports() -> None:
    assert {name: entry["port"] for name, entry in catalogue().items()} == PORTS


@pytest.mark.parametrize("name", sorted(PORTS))
def test_every_service_listens_on_its_port_with_seed_001_probes(
    stack: Recording, name: str
) -> None:
    main = container(stack, "Deployment", full(name), name)
    assert [(p["name"], p["containerPort"]) for p in main["ports"]] == [("http", PORTS[name])]
    service = manifest(stack, "Service", full(name))["spec"]
    assert [(p["port"], p["targetPort"]) for p in service["ports"]] == [(PORTS[name], PORTS[name])]
    assert service["selector"] == {
        "app.kubernetes.io/name": name,
        "app.kubernetes.io/instance": RELEASE,
    }
    live, ready = main["livenessProbe"], main["readinessProbe"]
    assert live["httpGet"] == {"path": "/healthz", "port": "http"}
    assert (live["initialDelaySeconds"], live["periodSeconds"]) == (30, 10)
    assert ready["httpGet"] == {"path": "/healthz", "port": "http"}
    assert (ready["initialDelaySeconds"], ready["periodSeconds"]) == (5, 5)
    # /metrics on the service port, announced for scraping.
    annotations = manifest(stack, "Deployment", full(name))["spec"]["template"]["metadata"][
        "annotations"
    ]
    assert annotations["prometheus.io/path"] == "/metrics"
    assert annotations["prometheus.io/port"] == str(PORTS[name])
    env = env_of(main)
    assert env["SERVICE_TYPE"]
    # Seed 004: dev runs in debug mode; staging and prod log at INFO.
    assert env["SERVICE_LOG_LEVEL"] == ("DEBUG" if stack.stack == "dev" else "INFO")
    assert env["NATS_URL"] == "nats://aegis-trader-nats:4222"
    assert env["NATS_KV_BUCKET"] == "service_registry"


def test_production_keeps_seed_001_resource_table(prod: Recording) -> None:
    for name in PORTS:
        found = container(prod, "Deployment", full(name), name)["resources"]
        if name in SEED_001:
            assert found == resources(*SEED_001[name]), name
        else:  # seed 000: "CPU 100m-500m, Memory 128Mi-512Mi per instance"
            for section in ("requests", "limits"):
                assert Decimal("0.1") <= parse_cpu(found[section]["cpu"]) <= Decimal("0.5")
                assert 128 * 2**20 <= parse_bytes(found[section]["memory"]) <= 512 * 2**20


def test_production_runs_two_to_three_instances_and_the_autoscalers(prod: Recording) -> None:
    for name in PORTS:
        deployment = manifest(prod, "Deployment", full(name))
        assert 2 <= deployment["spec"]["replicas"] <= 3 or name in HPAS, name
        assert prod.get("PodDisruptionBudget", full(name))
        assert "topologySpreadConstraints" in deployment["spec"]["template"]["spec"]
    hpas = {
        str(r.object_name): r.manifest()["spec"] for r in prod.of_kind("HorizontalPodAutoscaler")
    }
    for name, (low, high, cpu) in HPAS.items():
        spec = hpas[full(name)]
        assert (spec["minReplicas"], spec["maxReplicas"]) == (low, high), name
        assert spec["scaleTargetRef"] == {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": full(name),
        }
        assert {
            "type": "Resource",
            "resource": {
                "name": "cpu",
                "target": {"type": "Utilization", "averageUtilization": cpu},
            },
        } in spec["metrics"], name
        assert prod.get("Deployment", full(name)).ignore_changes == ["spec.replicas"]
    services_with_hpa = {n for n in hpas if n.removeprefix(f"{RELEASE}-") in PORTS}
    assert services_with_hpa == {full(n) for n in HPAS}


def test_local_runs_one_small_instance_each_within_the_tier_budget(dev: Recording) -> None:
    for name in PORTS:
        assert manifest(dev, "Deployment", full(name))["spec"]["replicas"] == 1
    hpas = {r.object_name for r in dev.of_kind("HorizontalPodAutoscaler")}
    assert hpas.isdisjoint(full(n) for n in PORTS)
    tier = Recording(
        "dev", [r for r in dev.resources if dev.tier_of(r) in ("ui", "trading-services")]
    )
    used = totals(tier)
    assert used.cpu_requests <= Decimal("0.45")
    assert used.memory_requests <= parse_bytes("1.2Gi")


def test_env_wires_the_stores_and_the_services_it_calls(stack: Recording) -> None:
    signal = env_of(container(stack, "Deployment", full("signal-generator"), "signal-generator"))
    # Seed 001's service discovery variables, from the graph.
    assert signal["SERVICE_RISK_MANAGER_URL"] == "http://aegis-trader-risk-manager:8084"
    assert signal["SERVICE_EXECUTION_ENGINE_URL"] == "http://aegis-trader-execution-engine:8085"
    assert signal["REDIS_PASSWORD_FILE"] == "/run/secrets/redis/password"
    assert "POSTGRES_PASSWORD_FILE" not in signal  # it does not call postgres
    signal_pod = pod_spec(stack, "Deployment", full("signal-generator"))
    assert "postgres-credentials" not in {v["name"] for v in signal_pod["volumes"]}
    risk = container(stack, "Deployment", full("risk-manager"), "risk-manager")
    pod = pod_spec(stack, "Deployment", full("risk-manager"))
    env = env_of(risk)
    # Seed 001's database `eafix_trading`, through the trading services' own role and Secret.
    database = stack.outputs["postgres"]["databases"]["trading-services"]
    assert env["POSTGRES_DB"] == database["database"] == "eafix_trading"
    assert env["POSTGRES_USER"] == database["user"]
    assert secret_file(pod, risk, env["POSTGRES_PASSWORD_FILE"]) == (database["secret"], "password")
    assert secret_file(pod, risk, env["REDIS_PASSWORD_FILE"]) == (
        stack.outputs["redis"]["secret"],
        "password",
    )
    # Seed 001's URL form, without the password (the file holds it).
    assert env["SERVICE_POSTGRES_URL"] == (
        f"postgresql://{database['user']}@aegis-trader-postgres:5432/eafix_trading"
    )
    assert env["SERVICE_TYPE"] == "risk-manager"


def test_init_container_waits_for_every_callee(stack: Recording) -> None:
    # Then, as it is on the bus, the KV bucket it registers in (tests/test_messaging.py).
    init, bucket = pod_spec(stack, "Deployment", full("execution-engine"))["initContainers"]
    assert bucket["name"] == "wait-for-kv-bucket"
    assert init["name"] == "wait-for-deps"
    assert init["image"] == "busybox:1.36"
    script = init["command"][-1]
    for target in ("aegis-trader-nats:4222", "aegis-trader-risk-manager:8084"):
        assert target in script


def test_network_policies_follow_the_declared_calls(stack: Recording) -> None:
    spec = manifest(stack, "NetworkPolicy", full("risk-manager"))["spec"]
    callers = {
        rule["from"][0]["podSelector"]["matchLabels"].get("app.kubernetes.io/name")
        for rule in spec["ingress"]
        if "podSelector" in rule["from"][0]
    }
    assert {"signal-generator", "execution-engine", "gui-gateway"} <= callers
    assert "data-ingestor" not in callers
    callees = {
        rule["to"][0]["podSelector"]["matchLabels"]["app.kubernetes.io/name"]
        for rule in spec["egress"]
    }
    assert callees == {"nats", "redis", "postgres"}


def test_production_admits_the_metrics_scrape(prod: Recording) -> None:
    spec = manifest(prod, "NetworkPolicy", full("reporter"))["spec"]
    scrape = [r for r in spec["ingress"] if "namespaceSelector" in r["from"][0]]
    assert scrape[0]["from"][0]["namespaceSelector"]["matchLabels"] == {
        "kubernetes.io/metadata.name": "monitoring"
    }
    assert scrape[0]["ports"] == [{"protocol": "TCP", "port": 8088}]


def test_calendar_ingestor_is_seed_004s_scraper(stack: Recording) -> None:
    spec = manifest(stack, "NetworkPolicy", full("calendar-ingestor"))["spec"]
    external = [r for r in spec["egress"] if "ipBlock" in r["to"][0]]
    assert external and external[0]["to"][0]["ipBlock"]["cidr"] == "0.0.0.0/0"
    if production(stack):
        (spread,) = pod_spec(stack, "Deployment", full("calendar-ingestor"))[
            "topologySpreadConstraints"
        ]
        assert spread["whenUnsatisfiable"] == "DoNotSchedule"
    # Only the scraper may leave the cluster.
    others = manifest(stack, "NetworkPolicy", full("reporter"))["spec"]["egress"]
    assert not [r for r in others if "ipBlock" in r["to"][0]]


def test_service_nodes_name_the_config_key_of_their_calls() -> None:
    platform = Platform(release="rel", namespace="ns", version="1")
    service = TradingService(
        name="risk-manager",
        port=8084,
        service_type="risk",
        image="img:1",
        resources=Resources("1m", "1Mi", "1m", "1Mi"),
        replicas=1,
        calls=("nats",),
        calls_key="tradingServices.services.risk-manager.calls",
        stage="risk",
        autoscaling=None,
        log_level="INFO",
        external_egress=True,
        public=False,
        spread="soft",
        env={},
    )
    (node,) = service_nodes(platform, [service])
    assert node.host == "rel-risk-manager"
    assert node.url == "http://rel-risk-manager:8084"
    assert node.declared_at == "tradingServices.services.risk-manager.calls"
    assert node.calls == ("nats",) and node.external_egress


# --- catalogue edits from stack config (one extra run) ---------------------------------------

EDITS = {
    "tradingServices": {
        "services": {
            "news-sentiment": {
                "port": 8090,
                "serviceType": "sentiment",
                "stage": "analysis",
                "calls": ["nats", "calendar-ingestor"],
            },
            "gui-gateway": {"enabled": False},
            "risk-manager": {"logLevel": "WARNING", "replicas": 2},
            "calendar-ingestor": {
                "autoscaling": {
                    "minReplicas": 1,
                    "maxReplicas": 3,
                    "externalMetrics": {"scraper_queue_size": "100"},
                }
            },
        }
    }
}


@pytest.fixture(scope="module")
def edited() -> Recording:
    return run_stack("dev", EDITS)


def test_a_service_is_added_from_config(edited: Recording) -> None:
    main = container(edited, "Deployment", full("news-sentiment"), "news-sentiment")
    assert main["ports"][0]["containerPort"] == 8090
    assert main["image"] == "news-sentiment:0.1.0"  # named as the service (seed 001)
    env = env_of(main)
    assert env["SERVICE_TYPE"] == "sentiment"
    assert env["SERVICE_CALENDAR_INGESTOR_URL"] == "http://aegis-trader-calendar-ingestor:8086"
    # Sized by the profile's defaults; the local profile maps no stage to an autoscaler.
    assert main["resources"]["requests"] == {"cpu": "30m", "memory": "64Mi"}
    ingress = manifest(edited, "NetworkPolicy", full("calendar-ingestor"))["spec"]["ingress"]
    assert any(
        r["from"][0]["podSelector"]["matchLabels"].get("app.kubernetes.io/name") == "news-sentiment"
        for r in ingress
    )


def test_a_service_is_disabled_from_config(edited: Recording) -> None:
    names = {r.object_name for r in edited.kubernetes_objects()}
    assert full("gui-gateway") not in names
    assert full("reporter") in names


def test_an_entry_is_overridden_field_by_field(edited: Recording) -> None:
    deployment = manifest(edited, "Deployment", full("risk-manager"))
    assert deployment["spec"]["replicas"] == 2
    main = container(edited, "Deployment", full("risk-manager"), "risk-manager")
    assert env_of(main)["SERVICE_LOG_LEVEL"] == "WARNING"  # over the stack's DEBUG
    assert main["ports"][0]["containerPort"] == 8084  # the rest stays the catalogue's
    hpa = manifest(edited, "HorizontalPodAutoscaler", full("calendar-ingestor"))["spec"]
    assert hpa["metrics"] == [
        {
            "type": "External",
            "external": {
                "metric": {"name": "scraper_queue_size"},
                "target": {"type": "AverageValue", "averageValue": "100"},
            },
        }
    ]


# --- bad input ------------------------------------------------------------------------------

BAD: list[tuple[dict[str, Any], str, str, str]] = [
    ({"reporter": {"port": 0}}, "services.reporter.port", "0", "between 1 and 65535"),
    ({"reporter": {"port": 70000}}, "services.reporter.port", "70000", "between 1 and 65535"),
    ({"reporter": {"port": 8081}}, "services.reporter.port", "8081", "taken by data-ingestor"),
    ({"Risk_Manager": {"port": 9300}}, "services.Risk_Manager", "Risk_Manager", "DNS-1123"),
    (
        {"risk-manager": {"calls": ["nats", "ghost"]}},
        "services.risk-manager.calls",
        "ghost",
        "known services",
    ),
    (
        {"risk-manager": {"enabled": False}},
        "services.signal-generator.calls",
        "risk-manager",
        "known services",
    ),
    (
        {"reporter": {"stage": "reporting"}},
        "services.reporter.stage",
        "reporting",
        "one of the stages",
    ),
    (
        {"risk-manager": {"resources": {"cpuRequest": "2"}}},
        "services.risk-manager.resources",
        "2",
        "must not exceed its limit",
    ),
    (
        {"risk-manger": {"replicas": 2}},
        "services.risk-manger",
        "replicas",
        "overrides no catalogue service; override one of data-ingestor",
    ),
    ({"reporter": {"replicas": 0}}, "services.reporter.replicas", "0", "between 1 and"),
    ({"reporter": {"replica": 2}}, "services.reporter.replica", "2", "allowed keys here: auto"),
    ({"reporter": {"logLevel": "LOUD"}}, "services.reporter.logLevel", "LOUD", "'INFO'"),
]


@pytest.mark.parametrize(("services", "key", "value", "allowed"), BAD, ids=[b[1] for b in BAD])
def test_bad_catalogue_fails_before_any_resource(
    services: dict[str, Any], key: str, value: str, allowed: str
) -> None:
    assert_rejected(
        {"tradingServices": {"services": services}}, f"tradingServices.{key}", value, allowed
    )
