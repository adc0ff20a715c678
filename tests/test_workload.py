"""The workload building block on explicit args: secure and available defaults, overrides."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from components.graph import ServicePort
from components.network import NetworkAccess, Peer
from components.workload import (
    Autoscaling,
    Container,
    Mount,
    Platform,
    Resources,
    Security,
    VolumeClaim,
    Workload,
    WorkloadArgs,
    http_probes,
    pod_template,
    scrape_targets,
)
from tests.kubeschema import validate_each
from tools.offline import Recording, run_program

PLATFORM = Platform(release="rel", namespace="ns", version="1.2.3")
MAIN = Container(
    name="api",
    image="example/api:1.0.0",
    resources=Resources("100m", "128Mi", "500m", "256Mi"),
    ports=(ServicePort("http", 8000),),
    probes=http_probes("http", "/health"),
    env={"LOG_LEVEL": "INFO"},
)
BASE = WorkloadArgs(platform=PLATFORM, component="api", main=MAIN)


def record(args: WorkloadArgs) -> Recording:
    return run_program(lambda: Workload("api", args))


def body(recording: Recording, kind: str) -> dict[str, Any]:
    (registration,) = recording.of_kind(kind)
    return registration.manifest()


def test_defaults_are_restricted_and_available() -> None:
    recording = record(BASE)
    deployment = body(recording, "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    assert deployment["metadata"]["name"] == "rel-api"
    assert deployment["spec"]["selector"]["matchLabels"] == {
        "app.kubernetes.io/name": "api",
        "app.kubernetes.io/instance": "rel",
    }
    # Pod labels are the selector only: adopting Helm-made pods changes no pod template label.
    assert (
        deployment["spec"]["template"]["metadata"]["labels"]
        == deployment["spec"]["selector"]["matchLabels"]
    )
    assert pod["automountServiceAccountToken"] is False
    assert pod["serviceAccountName"] == "rel-api"
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    (main,) = pod["containers"]
    assert main["securityContext"] == {
        "runAsNonRoot": True,
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    assert {"name": "tmp", "mountPath": "/tmp"} in main["volumeMounts"]
    assert main["resources"] == {
        "requests": {"cpu": "100m", "memory": "128Mi"},
        "limits": {"cpu": "500m", "memory": "256Mi"},
    }
    assert {"startupProbe", "livenessProbe", "readinessProbe"} <= set(main)
    assert main["imagePullPolicy"] == "IfNotPresent"
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    (sa,) = recording.of_kind("ServiceAccount")
    assert sa.manifest()["automountServiceAccountToken"] is False
    service = body(recording, "Service")
    assert service["spec"]["ports"] == [
        {"name": "http", "port": 8000, "targetPort": 8000, "protocol": "TCP"}
    ]
    # One replica: no PDB, no spread, no HPA.
    assert recording.of_kind("PodDisruptionBudget") == []
    assert recording.of_kind("HorizontalPodAutoscaler") == []
    assert "topologySpreadConstraints" not in pod


def test_every_child_is_parented_to_the_component() -> None:
    recording = record(BASE)
    component = next(r for r in recording.resources if r.type == "trading:workload:Workload")
    children = [r for r in recording.resources if r is not component]
    assert children and all(r.parent == component.urn for r in children)


def test_replicas_bring_a_pdb_and_production_spreads_them() -> None:
    platform = replace(PLATFORM, spread_across_nodes=True, image_pull_policy="Always")
    recording = record(replace(BASE, platform=platform, replicas=3, spread="hard"))
    pdb = body(recording, "PodDisruptionBudget")
    assert pdb["spec"]["maxUnavailable"] == 1
    pod = body(recording, "Deployment")["spec"]["template"]["spec"]
    (spread,) = pod["topologySpreadConstraints"]
    assert spread["whenUnsatisfiable"] == "DoNotSchedule"
    assert spread["topologyKey"] == "kubernetes.io/hostname"
    assert pod["containers"][0]["imagePullPolicy"] == "Always"


def test_autoscaling_owns_replicas() -> None:
    hpa = Autoscaling(
        2,
        10,
        cpu_percent=70,
        pods_metrics={"requests_per_second": "50"},
        scale_up_window=60,
        scale_down_window=300,
    )
    recording = record(replace(BASE, autoscaling=hpa))
    deployment = recording.of_kind("Deployment")[0]
    assert deployment.manifest()["spec"]["replicas"] == 2
    assert deployment.ignore_changes == ["spec.replicas"]
    spec = body(recording, "HorizontalPodAutoscaler")["spec"]
    assert (spec["minReplicas"], spec["maxReplicas"]) == (2, 10)
    assert spec["behavior"] == {
        "scaleUp": {"stabilizationWindowSeconds": 60},
        "scaleDown": {"stabilizationWindowSeconds": 300},
    }
    assert {
        "type": "Pods",
        "pods": {
            "metric": {"name": "requests_per_second"},
            "target": {"type": "AverageValue", "averageValue": "50"},
        },
    } in spec["metrics"]
    # The HPA minimum of two also means a disruption budget.
    assert recording.of_kind("PodDisruptionBudget")


def test_config_change_rolls_the_pods() -> None:
    def checksum(value: str) -> str:
        recording = record(
            replace(BASE, config={"API_PORT": value}, main=replace(MAIN, env_from_config=True))
        )
        template = body(recording, "Deployment")["spec"]["template"]
        assert template["spec"]["containers"][0]["envFrom"] == [
            {"configMapRef": {"name": "rel-api"}}
        ]
        return str(template["metadata"]["annotations"]["checksum/config"])

    assert checksum("8100") != checksum("8101")
    assert checksum("8100") == checksum("8100")


def test_stateful_data_is_protected_when_the_platform_says_so() -> None:
    claims = (VolumeClaim("data", "/data", "10Gi"),)
    args = replace(
        BASE,
        kind="StatefulSet",
        volume_claims=claims,
        platform=replace(PLATFORM, protect_data=True),
    )
    recording = record(args)
    (statefulset,) = recording.of_kind("StatefulSet")
    assert statefulset.protect and statefulset.retain_on_delete
    spec = statefulset.manifest()["spec"]
    assert spec["persistentVolumeClaimRetentionPolicy"] == {
        "whenDeleted": "Retain",
        "whenScaled": "Retain",
    }
    assert spec["serviceName"] == "rel-api-headless"
    assert spec["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"] == "10Gi"
    headless = recording.get("Service", "rel-api-headless").manifest()
    assert headless["spec"]["clusterIP"] == "None"
    unprotected = record(replace(args, platform=PLATFORM)).of_kind("StatefulSet")[0]
    assert not unprotected.protect
    assert (
        unprotected.manifest()["spec"]["persistentVolumeClaimRetentionPolicy"]["whenDeleted"]
        == "Delete"
    )


def test_overrides_reach_the_pod() -> None:
    security = Security(
        run_as_user=70, run_as_group=70, fs_group=70, read_only_root_filesystem=False
    )
    recording = record(
        replace(
            BASE, security=security, node_selector={"disk": "ssd"}, termination_grace_seconds=90
        )
    )
    pod = body(recording, "Deployment")["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsUser"] == 70
    assert pod["containers"][0]["securityContext"]["readOnlyRootFilesystem"] is False
    assert pod["nodeSelector"] == {"disk": "ssd"}
    assert pod["terminationGracePeriodSeconds"] == 90


def test_network_access_becomes_a_policy() -> None:
    access = NetworkAccess(
        ingress=(Peer({"app.kubernetes.io/name": "ui"}, (ServicePort("http", 8000),)),)
    )
    recording = record(replace(BASE, network=access))
    spec = body(recording, "NetworkPolicy")["spec"]
    assert spec["podSelector"]["matchLabels"]["app.kubernetes.io/name"] == "api"
    assert spec["ingress"][0]["from"][0]["podSelector"]["matchLabels"] == {
        "app.kubernetes.io/name": "ui"
    }


@pytest.mark.parametrize("version", ["1.27", "1.33"])
def test_full_featured_workload_validates(version: str) -> None:

    claims = (VolumeClaim("data", "/data", "1Gi"),)
    hpa = Autoscaling(2, 4, cpu_percent=70, memory_percent=80)
    args = replace(
        BASE,
        kind="StatefulSet",
        volume_claims=claims,
        autoscaling=hpa,
        config={"A": "b"},
        network=NetworkAccess(peer_ports=(ServicePort("cluster", 6222),)),
    )
    validate_each((r.manifest() for r in record(args).kubernetes_objects()), version)


def test_secret_inputs_stay_secret() -> None:
    from components.workload import SecretEnv

    recording = record(
        replace(BASE, main=replace(MAIN, env={"PASSWORD": SecretEnv("rel-db", "password")}))
    )
    env = body(recording, "Deployment")["spec"]["template"]["spec"]["containers"][0]["env"]
    assert env == [
        {"name": "PASSWORD", "valueFrom": {"secretKeyRef": {"name": "rel-db", "key": "password"}}}
    ]


def test_workloads_report_to_the_collector_when_there_is_one() -> None:
    platform = replace(PLATFORM, otlp_endpoint="http://rel-otel-collector:4317")
    env = body(record(replace(BASE, platform=platform)), "Deployment")["spec"]["template"]["spec"][
        "containers"
    ][0]["env"]
    names = {e["name"]: e.get("value") for e in env}
    assert names["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://rel-otel-collector:4317"
    assert names["OTEL_SERVICE_NAME"] == "api"
    plain = body(record(BASE), "Deployment")["spec"]["template"]["spec"]["containers"][0]["env"]
    assert not any(e["name"].startswith("OTEL_") for e in plain)


def test_dedicated_metrics_ports_bypass_a_mesh_sidecar() -> None:
    exporter = Container(
        name="exporter",
        image="example/exporter:1.0.0",
        resources=Resources("10m", "16Mi", "50m", "32Mi"),
        ports=(ServicePort("metrics", 9187),),
    )
    template = body(record(replace(BASE, sidecars=(exporter,))), "Deployment")["spec"]["template"]
    assert template["metadata"]["annotations"]["traffic.sidecar.istio.io/excludeInboundPorts"] == (
        "9187"
    )
    plain = body(record(BASE), "Deployment")["spec"]["template"]["metadata"]
    assert "traffic.sidecar.istio.io/excludeInboundPorts" not in plain.get("annotations", {})


def test_a_sidecar_runs_as_its_own_user_beside_a_low_uid_pod() -> None:
    """A pod whose server needs its image's UID (PostgreSQL's 70) keeps its sidecars at the
    platform's high UID: the container's runAsUser/runAsGroup override the pod's, and a container
    with the pod's own user renders none."""
    exporter = Container(
        name="exporter",
        image="example/exporter:1.0.0",
        resources=Resources("10m", "16Mi", "50m", "32Mi"),
        security=Security(),
    )
    pod_user = Security(run_as_user=70, run_as_group=70, fs_group=70)
    recording = record(replace(BASE, sidecars=(exporter,), security=pod_user))
    pod = body(recording, "Deployment")["spec"]["template"]["spec"]
    for version in ("1.27", "1.33"):
        validate_each((r.manifest() for r in recording.kubernetes_objects()), version)
    assert pod["securityContext"]["runAsUser"] == 70 and pod["securityContext"]["fsGroup"] == 70
    containers = {c["name"]: c for c in pod["containers"] + pod.get("initContainers", [])}
    assert containers["exporter"]["securityContext"]["runAsUser"] == 10001
    assert containers["exporter"]["securityContext"]["runAsGroup"] == 10001
    assert "runAsUser" not in containers["api"]["securityContext"]
    plain = body(record(BASE), "Deployment")["spec"]["template"]["spec"]["containers"][0]
    assert "runAsUser" not in plain["securityContext"]


def test_a_container_may_mount_only_the_pods_volumes() -> None:
    """An init container (such as the KV-bucket wait) mounts the pod's `tmp` scratch; a pod
    without it would be refused by the API server, so the pattern refuses it first."""
    init = Container(
        name="wait", image="example/cli:1", resources=MAIN.resources, mounts=(Mount("tmp", "/tmp"),)
    )
    pod = pod_template(replace(BASE, init_containers=(init,)), None)["spec"]
    assert pod["initContainers"][0]["volumeMounts"] == [{"name": "tmp", "mountPath": "/tmp"}]
    with pytest.raises(ValueError, match="container wait mounts 'tmp'"):
        pod_template(replace(BASE, init_containers=(init,), scratch=()), None)


# --- scrape targets: an output of the workload, handed on by its tier (issue 13) -------------


def test_a_workload_offers_its_metrics_port_and_announced_port_as_scrape_targets() -> None:
    exporter = Container(
        name="exporter",
        image="example/exporter:1",
        resources=Resources("10m", "16Mi", "50m", "32Mi"),
        ports=(ServicePort("metrics", 9100),),
    )
    args = replace(BASE, sidecars=(exporter,))
    workloads: list[Workload] = []

    def program() -> None:
        workloads.append(Workload("api", replace(args, pod_annotations=PROMETHEUS_HTTP)))
        workloads.append(Workload("plain", replace(BASE, component="plain")))

    run_program(program)
    offered, plain = workloads
    by_port = {t.port: t for t in offered.scrape_targets}
    assert set(by_port) == {"metrics", "http"}
    assert by_port["metrics"].name == "rel-api" and by_port["http"].name == "rel-api-http"
    assert by_port["http"].path == "/metrics"
    assert dict(by_port["metrics"].selector) == PLATFORM.selector("api")
    assert plain.scrape_targets == ()
    # A tier hands on its workloads' targets, in order.
    assert scrape_targets(offered, plain) == offered.scrape_targets


def test_behind_a_sidecar_an_announced_port_is_scraped_through_the_merged_metrics_port() -> None:
    meshed = replace(BASE, platform=replace(PLATFORM, mesh=True), pod_annotations=PROMETHEUS_HTTP)
    workloads: list[Workload] = []
    run_program(lambda: workloads.append(Workload("api", meshed)))
    (target,) = workloads[0].scrape_targets
    assert (target.port_number, target.path) == (15020, "/stats/prometheus")


PROMETHEUS_HTTP = {"prometheus.io/scrape": "true", "prometheus.io/port": "http"}
