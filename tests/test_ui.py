"""UI tier: seed 000's monitor API/UI on both recorded stacks, seed 004's operator frontend,
and the component on explicit args."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from components.endpoints import BusEndpoint
from components.graph import DependencyGraph, Node, ServicePort
from components.ui import FrontendSpec, MonitorSpec, MonitorUiSpec, Ui, UiArgs, ui_nodes
from components.workload import Autoscaling, Platform, Resources
from tests.helpers import assert_rejected, container, env_of, manifest, pod_spec
from tests.kubeschema import validate_each
from tools.offline import Recording, run_program

API = "aegis-trader-monitor-api"
UI = "aegis-trader-monitor-ui"
FRONTEND = "aegis-trader-operator-ui"
SELECTOR = {"app.kubernetes.io/instance": "aegis-trader"}


def test_monitor_api_keeps_seed_000_name_port_selector_and_config(stack: Recording) -> None:
    deployment = manifest(stack, "Deployment", API)
    assert deployment["spec"]["selector"]["matchLabels"] == {
        **SELECTOR,
        "app.kubernetes.io/name": "monitor-api",
    }
    service = manifest(stack, "Service", API)["spec"]
    assert service["type"] == "ClusterIP"
    assert [(p["port"], p["targetPort"]) for p in service["ports"]] == [(8100, 8100)]
    assert service["selector"] == deployment["spec"]["selector"]["matchLabels"]
    assert manifest(stack, "ConfigMap", API)["data"] == {
        "API_PORT": "8100",
        "NATS_URL": "nats://aegis-trader-nats:4222",
        "NATS_KV_BUCKET": "service_registry",
    }
    api = container(stack, "Deployment", API, "monitor-api")
    # From the ConfigMap, so a change rolls the pods (checksum annotation).
    assert api["envFrom"] == [{"configMapRef": {"name": API}}]
    assert [p["containerPort"] for p in api["ports"]] == [8100]
    template = deployment["spec"]["template"]
    assert "checksum/config" in template["metadata"]["annotations"]


def test_monitor_api_waits_for_nats_then_for_its_kv_bucket(stack: Recording) -> None:
    # Seed 000's `wait-for-nats` as it was, then the bucket it registers in (tests/test_messaging).
    init, bucket = pod_spec(stack, "Deployment", API)["initContainers"]
    assert bucket["name"] == "wait-for-kv-bucket"
    assert init["name"] == "wait-for-nats"
    assert init["image"] == "busybox:1.36"
    assert "until nc -z -w 2 aegis-trader-nats 4222" in init["command"][-1]
    assert init["resources"]["limits"]


def test_monitor_ui_keeps_seed_000_name_port_and_config(stack: Recording) -> None:
    deployment = manifest(stack, "Deployment", UI)
    assert deployment["spec"]["selector"]["matchLabels"] == {
        **SELECTOR,
        "app.kubernetes.io/name": "monitor-ui",
    }
    service = manifest(stack, "Service", UI)["spec"]
    assert [p["port"] for p in service["ports"]] == [3100]
    assert manifest(stack, "ConfigMap", UI)["data"] == {
        "PORT": "3100",
        "NEXT_PUBLIC_API_URL": "http://aegis-trader-monitor-api:8100",
    }
    ui = container(stack, "Deployment", UI, "monitor-ui")
    assert ui["envFrom"] == [{"configMapRef": {"name": UI}}]
    (init,) = pod_spec(stack, "Deployment", UI)["initContainers"]
    assert init["name"] == "wait-for-api"
    assert init["image"] == "busybox:1.36"
    assert "nc -z -w 2 aegis-trader-monitor-api 8100" in init["command"][-1]


def test_production_keeps_seed_000_monitor_resources(prod: Recording) -> None:
    assert container(prod, "Deployment", API, "monitor-api")["resources"] == {
        "requests": {"cpu": "1", "memory": "2Gi"},
        "limits": {"cpu": "1", "memory": "2Gi"},
    }
    assert container(prod, "Deployment", UI, "monitor-ui")["resources"] == {
        "requests": {"cpu": "500m", "memory": "1Gi"},
        "limits": {"cpu": "500m", "memory": "1Gi"},
    }
    for name, main in ((API, "monitor-api"), (UI, "monitor-ui")):
        assert manifest(prod, "Deployment", name)["spec"]["replicas"] == 1
        assert container(prod, "Deployment", name, main)["imagePullPolicy"] == "Always"


def test_local_pulls_loaded_images_and_stays_small(dev: Recording) -> None:
    api = container(dev, "Deployment", API, "monitor-api")
    assert api["image"] == "aegistrader-monitor-api:0.1.0"
    assert api["imagePullPolicy"] == "IfNotPresent"
    assert api["resources"]["requests"] == {"cpu": "50m", "memory": "128Mi"}


def test_network_policy_admits_the_ui_to_the_api_and_the_api_to_nats(stack: Recording) -> None:
    spec = manifest(stack, "NetworkPolicy", API)["spec"]
    callers = [rule["from"][0]["podSelector"]["matchLabels"] for rule in spec["ingress"]]
    assert {**SELECTOR, "app.kubernetes.io/name": "monitor-ui"} in callers
    callees = [rule["to"][0]["podSelector"]["matchLabels"] for rule in spec["egress"]]
    assert {**SELECTOR, "app.kubernetes.io/name": "nats"} in callees
    assert {"protocol": "TCP", "port": 4222} in spec["egress"][0]["ports"]


def test_operator_frontend_in_production_only(dev: Recording, prod: Recording) -> None:
    assert [r for r in dev.of_kind("Deployment") if r.object_name == FRONTEND] == []
    frontend = container(prod, "Deployment", FRONTEND, "operator-ui")
    assert frontend["livenessProbe"]["httpGet"]["path"] == "/api/health"
    assert frontend["readinessProbe"]["httpGet"]["path"] == "/api/ready"
    hpa = manifest(prod, "HorizontalPodAutoscaler", FRONTEND)["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (2, 10)
    targets = {
        m["resource"]["name"]: m["resource"]["target"]["averageUtilization"] for m in hpa["metrics"]
    }
    assert targets == {"cpu": 70, "memory": 80}
    config = manifest(prod, "ConfigMap", FRONTEND)["data"]
    assert config["SERVICE_GUI_GATEWAY_URL"] == "http://aegis-trader-gui-gateway:8080"
    assert config["NEXT_PUBLIC_API_URL"] == "http://aegis-trader-gui-gateway:8080"


# --- the component on explicit args -------------------------------------------------------

PLATFORM = Platform(release="rel", namespace="ns", version="1.0.0")
SMALL = Resources("10m", "16Mi", "50m", "32Mi")


def frontend_spec(**fields: Any) -> FrontendSpec:
    """The operator frontend with the given fields, the rest as the local profile has them."""
    base = FrontendSpec(
        image="reg/fe:1",
        resources=SMALL,
        component="operator-ui",
        port=3000,
        replicas=1,
        autoscaling=None,
        calls=("gui-gateway",),
        calls_key="ui.frontend.calls",
        api_url=None,
        public=True,
    )
    return replace(base, **fields)


def _graph(frontend: FrontendSpec | None) -> DependencyGraph:
    def node(name: str, port: int) -> Node:
        return Node(
            name,
            PLATFORM.name(name),
            (ServicePort("client", port),),
            PLATFORM.selector(name),
            PLATFORM.name(name),
        )

    return DependencyGraph(
        [node("nats", 4222), node("gui-gateway", 8080), *ui_nodes(PLATFORM, frontend)]
    )


def _record(frontend: FrontendSpec | None = None, secret: str | None = None) -> Recording:
    args = UiArgs(
        platform=PLATFORM,
        graph=_graph(frontend),
        bus=BusEndpoint(
            "nats://rel-nats:4222", "registry", "nats-box:1", SMALL, credentials_secret=secret
        ),
        monitor_api=MonitorSpec("reg/api:1", Resources("1", "2Gi", "1", "2Gi"), 1, None),
        monitor_ui=MonitorUiSpec(
            "reg/ui:1",
            Resources("500m", "1Gi", "500m", "1Gi"),
            1,
            None,
            api_url="https://mon.example",
        ),
        init_image="busybox:1.36",
        init_resources=SMALL,
        frontend=frontend,
    )
    return run_program(lambda: Ui("ui", args))


def test_component_names_follow_the_release_and_registers_hosts() -> None:
    recording = _record()
    names = sorted(str(r.object_name) for r in recording.of_kind("Deployment"))
    assert names == ["rel-monitor-api", "rel-monitor-ui"]
    component = next(r for r in recording.resources if r.type == "trading:ui:Ui")
    workloads = [r for r in recording.resources if r.type == "trading:workload:Workload"]
    assert workloads and all(w.parent == component.urn for w in workloads)
    assert recording.get("ConfigMap", "rel-monitor-ui").manifest()["data"][
        "NEXT_PUBLIC_API_URL"
    ] == ("https://mon.example")


def test_bus_credentials_come_from_the_secret_never_the_config_map() -> None:
    recording = _record(secret="rel-nats-auth")
    api = recording.get("Deployment", "rel-monitor-api").manifest()
    env = env_of(api["spec"]["template"]["spec"]["containers"][0])
    assert env["NATS_PASSWORD"] == {"secretKeyRef": {"name": "rel-nats-auth", "key": "password"}}
    assert "NATS_PASSWORD" not in recording.get("ConfigMap", "rel-monitor-api").manifest()["data"]


def test_frontend_without_autoscaling_keeps_its_replicas() -> None:
    spec = frontend_spec(replicas=2, calls=("gui-gateway",))
    recording = _record(spec)
    assert recording.of_kind("HorizontalPodAutoscaler") == []
    deployment = recording.get("Deployment", "rel-operator-ui").manifest()
    assert deployment["spec"]["replicas"] == 2
    assert recording.get("PodDisruptionBudget", "rel-operator-ui")
    with_hpa = _record(frontend_spec(autoscaling=Autoscaling(2, 10, 70, 80), calls=()))
    assert with_hpa.get("HorizontalPodAutoscaler", "rel-operator-ui")


@pytest.mark.parametrize("version", ["1.27", "1.33"])
def test_component_objects_validate(version: str) -> None:

    spec = frontend_spec(autoscaling=Autoscaling(2, 10, 70, 80))
    objects = _record(spec, "rel-nats-auth").kubernetes_objects()
    validate_each((r.manifest() for r in objects), version)


# --- bad input ------------------------------------------------------------------------------

BAD: list[tuple[dict[str, Any], str, str, str]] = [
    (
        {"frontend": {"enabled": True, "port": 70000}},
        "ui.frontend.port",
        "70000",
        "between 1 and 65535",
    ),
    (
        {"frontend": {"enabled": True, "calls": ["ghost"]}},
        "ui.frontend.calls",
        "ghost",
        "known services",
    ),
    (
        {"monitorApi": {"resources": {"cpuRequest": "2"}}},
        "ui.monitorApi.resources",
        "2",
        "must not exceed its limit",
    ),
    ({"images": {"tag": "latest"}}, "ui.images.tag", "latest", "pin a version"),
    ({"images": {"registry": "Not A Registry"}}, "ui.images.registry", "Not A Registry", "e.g."),
    ({"monitorUi": {"apiUrl": "mon:8100"}}, "ui.monitorUi.apiUrl", "mon:8100", "https?://"),
    (
        {"frontend": {"enabled": True, "autoscaling": {"minReplicas": 5, "maxReplicas": 2}}},
        "ui.frontend.autoscaling",
        "5",
        "minReplicas must be at most maxReplicas",
    ),
]


@pytest.mark.parametrize(("ui", "key", "value", "allowed"), BAD, ids=[b[1] for b in BAD])
def test_bad_ui_config_fails_before_any_resource(
    ui: dict[str, Any], key: str, value: str, allowed: str
) -> None:
    assert_rejected({"ui": ui}, key, value, allowed)
