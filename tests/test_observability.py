"""Observability: charts pinned and sized, every metrics port scraped, alerts and dashboards as
data, the OpenTelemetry pipeline, and bad configuration (issue 7)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.observability import (
    ALERTS_FILE,
    DASHBOARDS_DIR,
    AlertThresholds,
    alert_groups,
    load_adapter_rules,
    load_dashboards,
)
from components.scrape import targets_from_workload
from stacks.errors import ConfigError
from stacks.versions import CHARTS, IMAGES
from tests.conftest import CRDS
from tests.helpers import assert_rejected, env_of
from tools.offline import Recording, Registration, is_secret, run_stack, unwrap

RELEASE = "aegis-trader"
MONITORING = "monitoring"
STACK_RELEASE = "aegis-trader-monitoring"
COLLECTOR = "http://aegis-trader-otel-collector.monitoring:4317"
POD_OWNERS = ("Deployment", "StatefulSet", "DaemonSet")
MONITOR_KINDS = ("PodMonitor", "ServiceMonitor")

# Every pod a chart runs, by where its resources live in the values.
CHART_PODS = {
    "kube-prometheus-stack": (
        "prometheus.prometheusSpec",
        "alertmanager.alertmanagerSpec",
        "grafana",
        "grafana.sidecar",
        "prometheusOperator",
        "prometheusOperator.prometheusConfigReloader",
        "prometheusOperator.admissionWebhooks.patch",
        "kube-state-metrics",
        "prometheus-node-exporter",
    ),
    "opentelemetry-collector": ("",),
    "loki": ("singleBinary",),
    "prometheus-adapter": ("",),
}
ALERTS = {
    "TargetDown",
    "NatsJetStreamDisabled",
    "NatsJetStreamNoMetaLeader",
    "NatsJetStreamReplicaNotCurrent",
    "NatsKvBucketUnavailable",
    "PostgresDown",
    "RedisDown",
    "RedisMemoryNearMaxmemory",
    "PodRestartingRepeatedly",
    "ApiErrorRateHigh",
    "ApiLatencyP99High",
    "HpaAtMaximum",
    "VolumeAlmostFull",
    # Seed 001: SLO violation notifications and compliance monitoring alerts.
    "SloErrorBudgetBurnFast",
    "SloErrorBudgetBurnSlow",
    "ComplianceMonitorUnavailable",
    "ComplianceMonitorNotReporting",
    "ComplianceMonitorErrors",
}
ALERTS_TEXT = ALERTS_FILE.read_text()
TLS_ALERTS = {"CertificateExpiringSoon", "CertificateExpired", "CertificateNotReady"}


def releases(recording: Recording) -> list[Registration]:
    return [
        r
        for r in recording.resources
        if r.type.startswith("kubernetes:helm.sh/") and recording.tier_of(r) == "observability"
    ]


def release_named(recording: Recording, helm_name: str) -> Registration:
    (found,) = [r for r in releases(recording) if r.inputs["name"] == helm_name]
    return found


def values_at(values: Mapping[str, Any], path: str) -> Any:
    node: Any = values
    for part in filter(None, path.split(".")):
        node = node[part]
    return node


def resource_blocks(node: Any) -> Iterator[Any]:
    """Every container `resources` block in chart values (volume claims' storage excluded)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "rules":  # prometheus-adapter's rules map series labels to `resources`
                continue
            if key == "resources" and "storage" not in (value.get("requests") or {}):
                yield value
            else:
                yield from resource_blocks(value)
    elif isinstance(node, list):
        for value in node:
            yield from resource_blocks(value)


def sized(block: Any) -> bool:
    return all(
        isinstance(block, dict) and set(block.get(section) or {}) >= {"cpu", "memory"}
        for section in ("requests", "limits")
    )


# --- charts ----------------------------------------------------------------------------------


def test_releases_are_pinned_and_size_every_pod(stack: Recording) -> None:
    found = releases(stack)
    assert {r.inputs["chart"] for r in found} >= {
        "kube-prometheus-stack",
        "opentelemetry-collector",
    }
    for release in found:
        chart = release.inputs["chart"]
        assert re.fullmatch(r"\d+\.\d+\.\d+", release.inputs["version"]), chart  # exact pin
        assert release.inputs["version"] == CHARTS[chart]["version"], chart
        assert release.inputs["repositoryOpts"]["repo"] == CHARTS[chart]["repo"]
        assert release.inputs["namespace"] == MONITORING
        values = unwrap(release.inputs["values"])
        for path in CHART_PODS[chart]:
            block = values_at(values, path)["resources"]
            assert sized(block), f"{release.inputs['name']}: {path or 'resources'} = {block}"
        assert all(sized(b) for b in resource_blocks(values)), release.inputs["name"]


def test_pins_live_in_versions_and_match_the_crds_the_tests_use() -> None:
    """The pinned kube-prometheus-stack runs the prometheus-operator minor whose CRDs the
    schema tests validate our monitors and rules against (../shared/crds), and no test or
    comment names another chart version."""
    operator = CHARTS["kube-prometheus-stack"]["appVersion"]
    minor = ".".join(operator.lstrip("v").split(".")[:2])
    folders = sorted(p.name for p in CRDS.glob("prometheus-operator-v*")) if CRDS.is_dir() else []
    if not folders:
        pytest.skip(f"CRD folder {CRDS} is absent")
    (folder,) = folders
    assert folder.startswith(f"prometheus-operator-v{minor}."), (folder, operator)
    for crd in (CRDS / folder).glob("*.yaml"):
        annotations = yaml.safe_load(crd.read_text())["metadata"]["annotations"]
        assert annotations["operator.prometheus.io/version"].startswith(f"{minor}."), crd.name
    for chart, pin in CHARTS.items():
        assert re.fullmatch(r"\d+\.\d+\.\d+", pin["version"]), chart
        assert pin.get("appVersion") or chart == "istio", f"{chart}: record what it runs"


def test_local_values_fit_a_kind_node(dev: Recording) -> None:
    values = unwrap(release_named(dev, STACK_RELEASE).inputs["values"])
    spec = values["prometheus"]["prometheusSpec"]
    assert spec["retention"] == "1d"
    assert "storageSpec" not in spec
    assert values["nodeExporter"] == {"enabled": False}
    assert values["kubeEtcd"] == {"enabled": False}
    assert values["defaultRules"]["rules"]["nodeExporterAlerting"] is False
    assert {r.inputs["chart"] for r in releases(dev)} == {
        "kube-prometheus-stack",
        "opentelemetry-collector",
        "loki",
    }
    loki = unwrap(release_named(dev, "aegis-trader-loki").inputs["values"])
    assert loki["deploymentMode"] == "SingleBinary"
    # Seed 004's 30 days where the program owns the log store; the compactor enforces it.
    assert loki["loki"]["limits_config"]["retention_period"] == "30d"
    assert loki["loki"]["compactor"]["retention_enabled"] is True


def test_production_keeps_seed_004_retention_on_volumes(prod: Recording) -> None:
    values = unwrap(release_named(prod, STACK_RELEASE).inputs["values"])
    spec = values["prometheus"]["prometheusSpec"]
    assert spec["retention"] == "14d"
    assert spec["replicas"] == 2
    claim = spec["storageSpec"]["volumeClaimTemplate"]["spec"]
    assert claim["resources"]["requests"]["storage"] == "50Gi"
    assert spec["retentionSize"] == "42GB"
    assert values["nodeExporter"] == {"enabled": True}
    assert "loki" not in {r.inputs["chart"] for r in releases(prod)}


def test_grafana_credentials_are_generated_and_kept_out_of_values(stack: Recording) -> None:
    values = unwrap(release_named(stack, STACK_RELEASE).inputs["values"])
    assert "adminPassword" not in values["grafana"]
    assert values["grafana"]["admin"]["existingSecret"] == "aegis-trader-grafana-admin"
    secret = stack.get("Secret", "aegis-trader-grafana-admin")
    assert secret.manifest()["metadata"]["namespace"] == MONITORING
    assert is_secret(secret.inputs["stringData"])  # generated, never the chart's prom-operator
    assert unwrap(secret.inputs["stringData"])["admin-password"] != "prom-operator"
    release = release_named(stack, STACK_RELEASE)
    assert secret.urn in release.dependencies


def test_crds_move_with_the_chart_pin(stack: Recording) -> None:
    """Helm installs crds/ once and never upgrades them; the chart's hook Job applies the pinned
    chart's CRDs server-side (taking ownership from Helm) before every install, upgrade and
    rollback, with a pinned busybox (the chart defaults to `latest`) and restricted, sized pods."""
    crds = unwrap(release_named(stack, STACK_RELEASE).inputs["values"])["crds"]
    job = crds["upgradeJob"]
    assert crds["enabled"] is True and job["enabled"] is True
    assert job["forceConflicts"] is True
    assert job["image"]["busybox"]["tag"] == IMAGES["busybox"].split(":")[1] != "latest"
    assert sized(job["resources"])
    assert job["containerSecurityContext"]["readOnlyRootFilesystem"] is True
    assert job["containerSecurityContext"]["allowPrivilegeEscalation"] is False


def test_crd_upgrade_job_can_be_switched_off() -> None:
    recording = run_stack("dev", {"observability": {"operator": {"crdUpgradeJob": False}}})
    values = unwrap(release_named(recording, STACK_RELEASE).inputs["values"])
    assert values["crds"] == {"enabled": True, "upgradeJob": {"enabled": False}}


def test_grafana_serves_on_3000_service_and_container(stack: Recording) -> None:
    """Seed 001 documents Grafana on 3000; the chart's Service defaults to 80."""
    grafana = unwrap(release_named(stack, STACK_RELEASE).inputs["values"])["grafana"]
    assert grafana["service"]["port"] == 3000
    assert grafana["service"]["targetPort"] == 3000


def test_grafana_sidecar_loads_labelled_dashboards(stack: Recording) -> None:
    sidecar = unwrap(release_named(stack, STACK_RELEASE).inputs["values"])["grafana"]["sidecar"]
    assert sidecar["dashboards"]["label"] == "grafana_dashboard"
    assert sidecar["dashboards"]["labelValue"] == "1"


# --- scraping --------------------------------------------------------------------------------


def scraped_ports(manifest: dict[str, Any]) -> set[str]:
    """Port names a workload asks to be scraped on: `metrics`, or the prometheus.io port."""
    template = manifest["spec"]["template"]
    pod = template["spec"]
    ports = [
        p for c in pod["containers"] + pod.get("initContainers", []) for p in c.get("ports", [])
    ]
    wanted = {p["name"] for p in ports if p.get("name") == "metrics"}
    annotations = template["metadata"].get("annotations") or {}
    if annotations.get("prometheus.io/scrape") == "true":
        port = annotations.get("prometheus.io/port", "metrics")
        wanted |= {p["name"] for p in ports if port in (p.get("name"), str(p["containerPort"]))}
    return wanted


def meshed(stack: Recording, pod_metadata: Mapping[str, Any]) -> bool:
    namespaces = [n.manifest()["metadata"]["labels"] for n in stack.of_kind("Namespace")]
    injected = any(labels.get("istio-injection") == "enabled" for labels in namespaces)
    opted_out = (pod_metadata.get("annotations") or {}).get("sidecar.istio.io/inject") == "false"
    return injected and not opted_out


def selects(selector: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def monitors_for(stack: Recording, namespace: str, labels: Mapping[str, str]) -> set[str]:
    """Port names some PodMonitor (or ServiceMonitor through a Service) scrapes on these pods."""
    ports: set[str] = set()
    for monitor in (m.manifest() for kind in MONITOR_KINDS for m in stack.of_kind(kind)):
        if monitor["metadata"]["namespace"] != namespace:
            continue
        selector = monitor["spec"]["selector"]["matchLabels"]
        if monitor["kind"] == "PodMonitor":
            if selects(selector, labels):
                ports |= {
                    e.get("port") or f"port-{e['portNumber']}"
                    for e in monitor["spec"]["podMetricsEndpoints"]
                }
            continue
        for service in (s.manifest() for s in stack.of_kind("Service")):
            meta, spec = service["metadata"], service["spec"]
            if (
                meta["namespace"] == namespace
                and selects(selector, meta.get("labels", {}))
                and selects(spec.get("selector") or {"": "-"}, labels)
            ):
                wanted = {e["port"] for e in monitor["spec"]["endpoints"]}
                ports |= {p["targetPort"] for p in spec["ports"] if p["name"] in wanted}
    return ports


def test_every_metrics_port_is_scraped(stack: Recording) -> None:
    checked = 0
    for kind in POD_OWNERS:
        for workload in stack.of_kind(kind):
            body = workload.manifest()
            wanted = scraped_ports(body)
            if not wanted:
                continue
            template = body["spec"]["template"]["metadata"]
            if meshed(stack, template):
                # Behind a sidecar an announced app port is scraped through Istio's merge port;
                # dedicated `metrics` ports bypass the sidecar.
                wanted = {p if p == "metrics" else "port-15020" for p in wanted}
            labels = template["labels"]
            scraped = monitors_for(stack, body["metadata"]["namespace"], labels)
            assert wanted <= scraped, f"{kind}/{workload.object_name}: {wanted - scraped} unscraped"
            checked += 1
    assert checked > 0


def test_nats_exporter_is_scraped_on_7777(stack: Recording) -> None:
    monitor = stack.get("PodMonitor", "aegis-trader-nats").manifest()
    assert monitor["spec"]["podMetricsEndpoints"][0]["port"] == "metrics"
    sts = stack.get("StatefulSet", "aegis-trader-nats").manifest()
    ports = [p for c in sts["spec"]["template"]["spec"]["containers"] for p in c.get("ports", [])]
    assert {"name": "metrics", "containerPort": 7777, "protocol": "TCP"} in ports


def test_monitors_are_selected_by_the_installed_prometheus(stack: Recording) -> None:
    (stack_release,) = [r for r in releases(stack) if r.inputs["chart"] == "kube-prometheus-stack"]
    customs = [*stack.of_kind("PodMonitor"), *stack.of_kind("ServiceMonitor")]
    customs += stack.of_kind("PrometheusRule")
    assert customs
    for custom in customs:
        meta = custom.manifest()["metadata"]
        assert meta["labels"]["release"] == STACK_RELEASE
        assert meta["namespace"]
        assert stack_release.urn in custom.dependencies, custom.urn
    spec = unwrap(stack_release.inputs["values"])["prometheus"]["prometheusSpec"]
    assert spec["podMonitorSelectorNilUsesHelmValues"] is True
    assert spec["podMonitorNamespaceSelector"] == {}


def test_collector_metrics_are_scraped_through_its_service(stack: Recording) -> None:
    monitor = stack.get("ServiceMonitor", "aegis-trader-otel-collector-exported").manifest()
    values = unwrap(release_named(stack, "aegis-trader-otel-collector").inputs["values"])
    assert monitor["spec"]["selector"]["matchLabels"] == {
        "app.kubernetes.io/name": "opentelemetry-collector",
        "app.kubernetes.io/instance": values["fullnameOverride"],
    }
    (endpoint,) = monitor["spec"]["endpoints"]
    assert values["ports"][endpoint["port"]]["containerPort"] == 8889
    assert endpoint["honorLabels"] is True


# --- OpenTelemetry ---------------------------------------------------------------------------


def test_workloads_report_to_the_collector(stack: Recording) -> None:
    values = unwrap(release_named(stack, "aegis-trader-otel-collector").inputs["values"])
    assert f"http://{values['fullnameOverride']}.{MONITORING}:4317" == COLLECTOR
    for kind in ("Deployment", "StatefulSet"):
        for workload in stack.of_kind(kind):
            main = workload.manifest()["spec"]["template"]["spec"]["containers"][0]
            env = env_of(main)
            assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == COLLECTOR, workload.object_name
            assert env["OTEL_SERVICE_NAME"]
    egress = stack.get("NetworkPolicy", "aegis-trader-otlp-egress").manifest()["spec"]
    assert egress["podSelector"] == {}
    assert {p["port"] for p in egress["egress"][0]["ports"]} == {4317, 4318}
    assert stack.outputs["otlpEndpoint"] == COLLECTOR


def test_collector_pipeline(stack: Recording) -> None:
    values = unwrap(release_named(stack, "aegis-trader-otel-collector").inputs["values"])
    assert values["mode"] == "deployment"
    config = values["config"]
    protocols = config["receivers"]["otlp"]["protocols"]
    assert protocols["grpc"]["endpoint"].endswith(":4317")
    assert protocols["http"]["endpoint"].endswith(":4318")
    pipelines = config["service"]["pipelines"]
    for pipeline in pipelines.values():
        assert pipeline["processors"] == ["memory_limiter", "batch"]
    assert pipelines["metrics"]["exporters"] == ["prometheus"]
    assert set(config["processors"]) >= {"memory_limiter", "batch"}


def test_production_sends_traces_and_logs_to_its_backends(prod: Recording) -> None:
    values = unwrap(release_named(prod, "aegis-trader-otel-collector").inputs["values"])
    (traces,) = values["config"]["service"]["pipelines"]["traces"]["exporters"]
    assert values["config"]["exporters"][traces]["endpoint"] == "tempo-distributor.tracing:4317"
    agent = unwrap(release_named(prod, "aegis-trader-otel-agent").inputs["values"])
    assert agent["mode"] == "daemonset"
    assert agent["presets"]["logsCollection"]["enabled"] is True
    (logs,) = agent["config"]["service"]["pipelines"]["logs"]["exporters"]
    assert agent["config"]["exporters"][logs]["endpoints"] == [
        "https://elasticsearch-es-http.logging:9200"
    ]


def test_log_agent_receiver_is_file_log_for_the_pinned_collector(stack: Recording) -> None:
    """Collector-contrib renamed `filelog` to `file_log` in 0.149.0; chart 0.168.0+ writes its
    logsCollection preset as `filelog` and renames it (and pipeline references) only under
    `rewriteDeprecatedComponentNames`. Our pipeline names `file_log`: without the flag it would
    name a receiver the config does not define."""
    chart = CHARTS["opentelemetry-collector"]
    assert tuple(map(int, chart["version"].split("."))) >= (0, 168, 0)
    assert tuple(map(int, chart["appVersion"].split("."))) >= (0, 149, 0)
    agent = unwrap(release_named(stack, "aegis-trader-otel-agent").inputs["values"])
    assert agent["rewriteDeprecatedComponentNames"] is True
    assert agent["presets"]["logsCollection"]["enabled"] is True
    assert agent["config"]["service"]["pipelines"]["logs"]["receivers"] == ["file_log"]
    assert "filelog" not in json.dumps(agent)


ES_CREDENTIALS, ES_CA = "elasticsearch-logs-credentials", "elasticsearch-logs-ca"


@pytest.mark.parametrize("helm_name", ["aegis-trader-otel-collector", "aegis-trader-otel-agent"])
def test_production_logs_authenticate_and_verify_elasticsearch(
    prod: Recording, helm_name: str
) -> None:
    """ECK serves HTTPS with its own CA and refuses anonymous writes: both the gateway (OTLP
    logs) and the agent (pod logs) send basic auth from a Secret and verify with the CA."""
    values = unwrap(release_named(prod, helm_name).inputs["values"])
    (logs,) = values["config"]["service"]["pipelines"]["logs"]["exporters"]
    exporter = values["config"]["exporters"][logs]
    env = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in values["extraEnvs"]}
    assert exporter["user"] == "${env:ELASTICSEARCH_USERNAME}"
    assert exporter["password"] == "${env:ELASTICSEARCH_PASSWORD}"
    assert env["ELASTICSEARCH_USERNAME"] == {"name": ES_CREDENTIALS, "key": "username"}
    assert env["ELASTICSEARCH_PASSWORD"] == {"name": ES_CREDENTIALS, "key": "password"}
    (volume,) = values["extraVolumes"]
    assert volume["secret"] == {"secretName": ES_CA}
    (mount,) = [m for m in values["extraVolumeMounts"] if m["name"] == volume["name"]]
    assert mount["readOnly"] is True
    assert exporter["tls"]["ca_file"] == f"{mount['mountPath']}/ca.crt"
    assert "insecure_skip_verify" not in json.dumps(exporter)


def test_grafana_reads_elasticsearch_with_the_same_credentials_and_ca(prod: Recording) -> None:
    grafana = unwrap(release_named(prod, STACK_RELEASE).inputs["values"])["grafana"]
    (source,) = grafana["additionalDataSources"]
    assert source["basicAuth"] is True
    assert source["basicAuthUser"] == "$ELASTICSEARCH_USERNAME"
    assert source["secureJsonData"]["basicAuthPassword"] == "$ELASTICSEARCH_PASSWORD"
    assert grafana["envValueFrom"]["ELASTICSEARCH_PASSWORD"]["secretKeyRef"] == {
        "name": ES_CREDENTIALS,
        "key": "password",
    }
    (mount,) = grafana["extraSecretMounts"]
    assert mount["secretName"] == ES_CA
    assert source["jsonData"]["tlsAuthWithCACert"] is True
    assert source["secureJsonData"]["tlsCACert"] == f"$__file{{{mount['mountPath']}/ca.crt}}"


def test_local_logs_carry_no_credentials(dev: Recording) -> None:
    for helm_name in ("aegis-trader-otel-collector", "aegis-trader-otel-agent"):
        values = unwrap(release_named(dev, helm_name).inputs["values"])
        assert "extraEnvs" not in values and "extraVolumes" not in values


def test_local_logs_go_to_loki(dev: Recording) -> None:
    agent = unwrap(release_named(dev, "aegis-trader-otel-agent").inputs["values"])
    (logs,) = agent["config"]["service"]["pipelines"]["logs"]["exporters"]
    assert agent["config"]["exporters"][logs]["endpoint"] == (
        "http://aegis-trader-loki.monitoring:3100/otlp"
    )
    agent_release = release_named(dev, "aegis-trader-otel-agent")
    assert release_named(dev, "aegis-trader-loki").urn in agent_release.dependencies


ADAPTER = "aegis-trader-metrics-adapter"


def hpa_metrics(recording: Recording) -> dict[str, set[str]]:
    """Pods and External metric names of every HorizontalPodAutoscaler in the graph."""
    found: dict[str, set[str]] = {"Pods": set(), "External": set()}
    for hpa in recording.of_kind("HorizontalPodAutoscaler"):
        for metric in hpa.manifest()["spec"]["metrics"]:
            if metric["type"] in found:
                found[metric["type"]].add(metric[metric["type"].lower()]["metric"]["name"])
    return found


def test_the_adapter_serves_exactly_the_autoscalers_metrics(prod: Recording) -> None:
    """Seed 004's backend (Pods `requests_per_second`) and scraper (External
    `scraper_queue_size`) HPAs ask the metrics APIs for names a prometheus-adapter rule
    must produce; a metric nothing serves keeps an HPA from ever scaling down."""
    used = hpa_metrics(prod)
    assert used == {"Pods": {"requests_per_second"}, "External": {"scraper_queue_size"}}
    release = release_named(prod, ADAPTER)
    assert release.inputs["chart"] == "prometheus-adapter"
    assert release_named(prod, STACK_RELEASE).urn in release.dependencies
    values = unwrap(release.inputs["values"])
    rules = values["rules"]
    assert rules["default"] is False and "resource" not in rules  # metrics-server's API stays
    assert {r["name"]["as"] for r in rules["custom"]} == used["Pods"]
    assert {r["name"]["as"] for r in rules["external"]} == used["External"]
    assert values["prometheus"] == {
        "url": "http://aegis-trader-monitoring-prometheus.monitoring.svc",
        "port": 9090,
    }
    assert values["replicas"] == 2 and values["podDisruptionBudget"]["enabled"] is True
    # The API server verifies the adapter (cert-manager CA) instead of skipping TLS.
    assert values["certManager"] == {"enabled": True}


def test_requests_per_second_comes_from_what_the_collector_exports(prod: Recording) -> None:
    """The backend reports HTTP server metrics over OTLP; the collector re-exports them with
    resource attributes as labels and the pod's namespace and name from k8s_attributes, so the
    rule maps those labels (the series' own `namespace`/`pod` are the collector's)."""
    (rule,) = unwrap(release_named(prod, ADAPTER).inputs["values"])["rules"]["custom"]
    assert rule["seriesQuery"].startswith("http_server_request_duration_seconds_count{")
    assert rule["resources"]["overrides"] == {
        "k8s_namespace_name": {"resource": "namespace"},
        "k8s_pod_name": {"resource": "pod"},
    }
    assert "rate(<<.Series>>" in rule["metricsQuery"]
    collector = unwrap(release_named(prod, "aegis-trader-otel-collector").inputs["values"])
    assert collector["presets"]["kubernetesAttributes"]["enabled"] is True
    exporter = collector["config"]["exporters"]["prometheus"]
    assert exporter["resource_to_telemetry_conversion"] == {"enabled": True}
    backend = prod.get("Deployment", "aegis-trader-backend").manifest()
    env = env_of(backend["spec"]["template"]["spec"]["containers"][0])
    assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == COLLECTOR
    # The alerts read the same series, so one contract covers both.
    assert "http_server_request_duration_seconds_count" in ALERTS_TEXT


def test_scraper_queue_size_comes_from_the_scrapers_own_metrics(prod: Recording) -> None:
    (rule,) = unwrap(release_named(prod, ADAPTER).inputs["values"])["rules"]["external"]
    assert rule["seriesQuery"].startswith("scraper_queue_size{")
    assert rule["resources"]["overrides"] == {"namespace": {"resource": "namespace"}}
    (hpa,) = [
        h
        for h in prod.of_kind("HorizontalPodAutoscaler")
        if any(m["type"] == "External" for m in h.manifest()["spec"]["metrics"])
    ]
    target = hpa.manifest()["spec"]["scaleTargetRef"]["name"]
    assert target == "aegis-trader-calendar-ingestor"  # seed 004's scraper role
    monitors = {m.object_name for m in prod.of_kind("PodMonitor")}
    assert "aegis-trader-calendar-ingestor-http" in monitors  # its /metrics is scraped


def test_no_adapter_without_custom_or_external_metrics(dev: Recording) -> None:
    assert hpa_metrics(dev) == {"Pods": set(), "External": set()}
    assert "prometheus-adapter" not in {r.inputs["chart"] for r in releases(dev)}


def test_an_autoscaler_metric_nothing_serves_is_refused() -> None:
    assert_rejected(
        {"api": {"backend": {"autoscaling": {"podsMetrics": {"queue_depth": "10"}}}}},
        "api.backend.autoscaling.podsMetrics",
        "queue_depth",
        "serve requests_per_second; add a rule there",
        stack="prod",
    )


def test_another_adapter_may_serve_them() -> None:
    overrides = {
        "api": {"backend": {"autoscaling": {"podsMetrics": {"queue_depth": "10"}}}},
        "observability": {"metricsAdapter": {"enabled": False}},
    }
    recording = run_stack("prod", overrides)
    assert "prometheus-adapter" not in {r.inputs["chart"] for r in releases(recording)}


def admits_monitoring(policies: list[dict[str, Any]], labels: Mapping[str, str], port: Any) -> bool:
    for policy in policies:
        if not selects(policy["spec"]["podSelector"].get("matchLabels") or {}, labels):
            continue
        for rule in policy["spec"].get("ingress") or []:
            sources = [
                peer.get("namespaceSelector", {}).get("matchLabels", {})
                for peer in rule.get("from") or []
            ]
            ports = {p.get("port") for p in rule.get("ports") or []}
            if {"kubernetes.io/metadata.name": MONITORING} in sources and (
                port["containerPort"] in ports or port["name"] in ports
            ):
                return True
    return False


def test_scraped_ports_admit_the_monitoring_namespace(stack: Recording) -> None:
    """Default deny would drop the scrapes: each scraped port admits Prometheus' namespace."""
    namespace = stack.get("Namespace", MONITORING).manifest()
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "privileged"
    assert stack.outputs["monitoringNamespace"] == MONITORING
    policies = [p.manifest() for p in stack.of_kind("NetworkPolicy")]
    for kind in POD_OWNERS:
        for workload in stack.of_kind(kind):
            body = workload.manifest()
            template = body["spec"]["template"]
            pod = template["spec"]
            wanted = scraped_ports(body)
            for port in (
                p
                for c in pod["containers"] + pod.get("initContainers", [])
                for p in c.get("ports", [])
                if p["name"] in wanted
            ):
                labels = template["metadata"]["labels"]
                assert admits_monitoring(policies, labels, port), (workload.object_name, port)


# --- alerts and dashboards -------------------------------------------------------------------


def rules(recording: Recording) -> dict[str, dict[str, Any]]:
    body = recording.get("PrometheusRule", "aegis-trader-alerts").manifest()
    return {r["alert"]: r for g in body["spec"]["groups"] for r in g["rules"] if "alert" in r}


def test_each_alert_exists_with_severity_summary_and_runbook(stack: Recording) -> None:
    found = rules(stack)
    assert set(found) >= ALERTS
    for name, rule in found.items():
        assert rule["labels"]["severity"] in ("critical", "warning", "info"), name
        assert rule["annotations"]["summary"], name
        assert rule["annotations"]["runbook"], name
        assert "@{" not in json.dumps(rule), name


def test_thresholds_come_from_config(dev: Recording, prod: Recording) -> None:
    assert "> 0.05" in rules(dev)["ApiErrorRateHigh"]["expr"]
    assert "> 0.01" in rules(prod)["ApiErrorRateHigh"]["expr"]
    assert rules(dev)["ApiLatencyP99High"]["expr"].rstrip().endswith("> 0.5")
    assert "> 0.85" in rules(dev)["VolumeAlmostFull"]["expr"]
    assert 'namespace="trading-prod"' in rules(prod)["TargetDown"]["expr"]
    assert 'stream_name="KV_service_registry"' in rules(dev)["NatsKvBucketUnavailable"]["expr"]


def alertmanager(recording: Recording) -> dict[str, Any]:
    values = unwrap(release_named(recording, STACK_RELEASE).inputs["values"])
    return dict(values["alertmanager"])


def test_production_alerts_reach_people_by_severity(prod: Recording) -> None:
    """Critical pages the on-call rotation (PagerDuty), critical and warning reach Slack; each
    route continues so both get a critical alert; everything else stays in the UI."""
    am = alertmanager(prod)
    config = am["config"]
    routes = config["route"]["routes"]
    by_severity: dict[str, set[str]] = {}
    for route in routes:
        (matcher,) = route["matchers"]
        if matcher.startswith("severity="):
            assert route["continue"] is True
            by_severity.setdefault(matcher.split('"')[1], set()).add(route["receiver"])
    assert by_severity == {
        "critical": {"oncall-pagerduty", "trading-slack"},
        "warning": {"trading-slack"},
    }
    assert config["route"]["receiver"] == "null"
    assert {"name": "null"} in config["receivers"]
    # Watchdog (always firing) is matched first and notifies nobody.
    assert routes[0]["receiver"] == "null" and "Watchdog" in routes[0]["matchers"][0]


def test_receiver_credentials_are_mounted_secrets_never_values(prod: Recording) -> None:
    am = alertmanager(prod)
    receivers = {r["name"]: r for r in am["config"]["receivers"]}
    (pagerduty,) = receivers["oncall-pagerduty"]["pagerduty_configs"]
    (slack,) = receivers["trading-slack"]["slack_configs"]
    assert set(am["alertmanagerSpec"]["secrets"]) == {
        "alertmanager-pagerduty",
        "alertmanager-slack",
    }
    # The operator mounts each listed Secret at /etc/alertmanager/secrets/<name>/<key>.
    assert pagerduty["routing_key_file"] == (
        "/etc/alertmanager/secrets/alertmanager-pagerduty/routing-key"
    )
    assert slack["api_url_file"] == "/etc/alertmanager/secrets/alertmanager-slack/url"
    assert slack["channel"] == "#trading-alerts"
    text = json.dumps(am["config"])
    assert 'routing_key"' not in text and 'api_url"' not in text and "hooks.slack" not in text


def test_inhibition_silences_lesser_alerts(prod: Recording) -> None:
    inhibit = alertmanager(prod)["config"]["inhibit_rules"]
    pairs = {(r["source_matchers"][0], r["target_matchers"][0]) for r in inhibit}
    assert ('severity="critical"', 'severity=~"warning|info"') in pairs
    assert ('alertname="SloErrorBudgetBurnFast"', 'alertname="SloErrorBudgetBurnSlow"') in pairs
    alerts = set(rules(prod))
    for source, target in pairs:  # every alert an inhibition names exists (or is the chart's)
        for name in re.findall(r"[A-Z][A-Za-z]+", source + target):
            assert name in alerts | {"InfoInhibitor"}, name


def test_local_alerts_stay_in_the_ui(dev: Recording) -> None:
    am = alertmanager(dev)
    assert am["config"]["receivers"] == [{"name": "null"}]
    assert am["alertmanagerSpec"]["secrets"] == []


def test_webhook_receiver_reads_its_url_from_a_secret() -> None:
    receivers = [
        {"name": "ops-hook", "type": "webhook", "secret": "ops-hook", "severities": ["info"]}
    ]
    recording = run_stack("dev", {"observability": {"alertmanager": {"receivers": receivers}}})
    config = alertmanager(recording)["config"]
    (hook,) = next(r for r in config["receivers"] if r["name"] == "ops-hook")["webhook_configs"]
    assert hook == {"url_file": "/etc/alertmanager/secrets/ops-hook/url", "send_resolved": True}
    (route,) = [r for r in config["route"]["routes"] if r["receiver"] == "ops-hook"]
    assert route["matchers"] == ['severity="info"']


def test_compliance_alerts_watch_the_deployed_compliance_monitor(stack: Recording) -> None:
    """Seed 001's compliance monitoring alerts name the Deployment and PodMonitor the graph
    really declares (a renamed workload would leave them silently never firing)."""
    (deployment,) = [
        d
        for d in stack.of_kind("Deployment")
        if (d.object_name or "").endswith("-compliance-monitor")
    ]
    namespace = deployment.manifest()["metadata"]["namespace"]
    unavailable = rules(stack)["ComplianceMonitorUnavailable"]["expr"]
    assert f'deployment="{deployment.object_name}"' in unavailable
    assert f'namespace="{namespace}"' in unavailable
    assert (
        f'pod=~"{deployment.object_name}-.*"'
        in rules(stack)["ComplianceMonitorNotReporting"]["expr"]
    )
    monitors = {m.object_name for m in stack.of_kind("PodMonitor")}
    assert f"{deployment.object_name}-http" in monitors
    assert rules(stack)["ComplianceMonitorUnavailable"]["labels"]["severity"] == "critical"


def test_slo_burn_rates_follow_the_availability_target(dev: Recording, prod: Recording) -> None:
    recording = run_stack("dev", {"observability": {"alerts": {"sloAvailability": 0.99}}})
    fast = rules(recording)["SloErrorBudgetBurnFast"]["expr"]
    assert fast.count("> 0.144\n") == 2  # 14.4 x the 1% budget, both windows
    slow = rules(prod)["SloErrorBudgetBurnSlow"]["expr"]
    assert slow.count("> 0.006\n") == 2  # 6 x the 0.1% budget
    assert rules(dev)["SloErrorBudgetBurnFast"]["labels"]["severity"] == "critical"


def test_tls_alerts_only_where_cert_manager_runs(dev: Recording, prod: Recording) -> None:
    assert not TLS_ALERTS & set(rules(dev))
    assert set(rules(prod)) >= TLS_ALERTS


def test_dashboard_files_are_valid_json_with_unique_uids() -> None:
    paths = sorted(DASHBOARDS_DIR.glob("*.json"))
    assert len(paths) >= 5
    uids = [json.loads(p.read_text())["uid"] for p in paths]
    assert len(set(uids)) == len(uids)


def test_dashboards_are_configmaps_the_sidecar_loads(stack: Recording) -> None:
    maps = [
        c for c in stack.of_kind("ConfigMap") if str(c.object_name).startswith(f"{RELEASE}-dash")
    ]
    assert len(maps) == len(list(DASHBOARDS_DIR.glob("*.json")))
    titles = set()
    for config_map in maps:
        body = config_map.manifest()
        assert body["metadata"]["namespace"] == MONITORING
        assert body["metadata"]["labels"]["grafana_dashboard"] == "1"
        ((_, text),) = body["data"].items()
        titles.add(json.loads(text)["title"])
    assert {
        "Trading platform / Overview",
        "Trading platform / NATS JetStream",
        "Trading platform / Data stores",
        "Trading platform / API and engine",
        "Trading platform / Trading services",
    } <= titles


# --- pure functions --------------------------------------------------------------------------


def test_targets_follow_metrics_ports_and_scrape_annotations() -> None:
    spec: dict[str, Any] = {
        "selector": {"matchLabels": {"app.kubernetes.io/name": "svc"}},
        "template": {
            "metadata": {
                "labels": {"app.kubernetes.io/name": "svc"},
                "annotations": {"prometheus.io/scrape": "true", "prometheus.io/port": "8080"},
            },
            "spec": {
                "containers": [{"ports": [{"name": "http", "containerPort": 8080}]}],
                "initContainers": [{"ports": [{"name": "metrics", "containerPort": 9121}]}],
            },
        },
    }
    targets = targets_from_workload({"name": "rel-svc", "namespace": "ns"}, spec)
    assert {(t.port, t.name) for t in targets} == {("metrics", "rel-svc"), ("http", "rel-svc-http")}
    spec["template"]["metadata"]["annotations"] = {}
    spec["template"]["spec"]["initContainers"] = []
    assert targets_from_workload({"name": "rel-svc"}, spec) == []


def test_an_alert_without_severity_or_runbook_is_rejected() -> None:
    thresholds = AlertThresholds(error_rate=0.05, p99_latency_seconds=0.5)
    bad = "groups: [{name: g, rules: [{alert: A, expr: up, annotations: {summary: s}}]}]"
    with pytest.raises(ValueError, match="severity"):
        alert_groups(bad, thresholds, namespace="ns", release="r", kv_bucket=None)
    no_runbook = bad.replace("annotations:", "labels: {severity: info}, annotations:")
    with pytest.raises(ValueError, match="runbook"):
        alert_groups(no_runbook, thresholds, namespace="ns", release="r", kv_bucket=None)


def test_duplicate_dashboard_uids_are_rejected(tmp_path: Path) -> None:
    for name in ("a", "b"):
        (tmp_path / f"{name}.json").write_text(json.dumps({"uid": "same", "title": name}))
    with pytest.raises(ValueError, match="reuses uid"):
        load_dashboards(tmp_path)
    (tmp_path / "b.json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_dashboards(tmp_path)


# --- other configurations --------------------------------------------------------------------


def test_disabled_declares_nothing() -> None:
    recording = run_stack("dev", {"observability": {"enabled": False}})
    assert releases(recording) == []
    assert not [
        r for r in recording.kubernetes_objects() if r.kind in (*MONITOR_KINDS, "PrometheusRule")
    ]
    assert not [r for r in recording.resources if recording.tier_of(r) == "observability"]
    for workload in recording.of_kind("Deployment"):
        main = workload.manifest()["spec"]["template"]["spec"]["containers"][0]
        assert "OTEL_EXPORTER_OTLP_ENDPOINT" not in env_of(main)


def test_existing_monitoring_stack_installs_nothing() -> None:
    recording = run_stack(
        "prod",
        {"observability": {"install": False, "monitorLabels": {"prometheus": "platform"}}},
    )
    assert releases(recording) == []
    assert [n for n in recording.of_kind("Namespace") if n.object_name == MONITORING] == []
    monitors = recording.of_kind("PodMonitor")
    assert monitors
    for monitor in monitors:
        labels = monitor.manifest()["metadata"]["labels"]
        assert labels["prometheus"] == "platform" and "release" not in labels
    assert recording.of_kind("ServiceMonitor") == []  # no collector of ours to scrape
    assert len(recording.of_kind("PrometheusRule")) == 1
    assert recording.outputs["otlpEndpoint"] is None


BAD: list[tuple[dict[str, Any], str, str, str]] = [
    (
        {"charts": {"kubePrometheusStack": "^88.5"}},
        "observability.charts.kubePrometheusStack",
        "^88.5",
        "MAJOR.MINOR.PATCH",
    ),
    (
        {"charts": {"loki": "latest"}},
        "observability.charts.loki",
        "latest",
        "MAJOR.MINOR.PATCH",
    ),
    ({"retention": "14days"}, "observability.retention", "14days", "Prometheus duration"),
    ({"retention": "1.5d"}, "observability.retention", "1.5d", "Prometheus duration"),
    ({"alerts": {"errorRate": 1.5}}, "observability.alerts.errorRate", "1.5", "between 0 and 1"),
    ({"alerts": {"errorRate": 0}}, "observability.alerts.errorRate", "0", "between 0 and 1"),
    (
        {"alerts": {"p99LatencySeconds": 0}},
        "observability.alerts.p99LatencySeconds",
        "0",
        "positive number of seconds",
    ),
    (
        {"alerts": {"p99LatencySeconds": -1}},
        "observability.alerts.p99LatencySeconds",
        "-1",
        "positive number of seconds",
    ),
    (
        {"traces": {"exporter": "otlp"}},
        "observability.traces.endpoint",
        "None",
        "required when traces.exporter is 'otlp'",
    ),
    (
        {"logs": {"backend": "elasticsearch"}},
        "observability.logs.endpoint",
        "None",
        "required when logs.backend is 'elasticsearch'",
    ),
    (
        {"alerts": {"sloAvailability": 0.9}},
        "observability.alerts.sloAvailability",
        "0.9",
        "from 0.95 up to 1",
    ),
    (
        {
            "alertmanager": {
                "receivers": [
                    {"name": "null", "type": "webhook", "secret": "h", "severities": ["info"]}
                ]
            }
        },
        "observability.alertmanager.receivers.0.name",
        "null",
        "lower-case letters",
    ),
    (
        {
            "alertmanager": {
                "receivers": [
                    {
                        "name": "pd",
                        "type": "pagerduty",
                        "secret": "pd",
                        "channel": "#x",
                        "severities": ["critical"],
                    }
                ]
            }
        },
        "observability.alertmanager.receivers.0.channel",
        "#x",
        "only used by type 'slack'",
    ),
    (
        {
            "alertmanager": {
                "receivers": [
                    {"name": "pd", "type": "email", "secret": "pd", "severities": ["critical"]}
                ]
            }
        },
        "observability.alertmanager.receivers.0.type",
        "email",
        "webhook",
    ),
    (
        {"logs": {"credentialsSecret": "es-user"}},
        "observability.logs.credentialsSecret",
        "es-user",
        "only used with logs.backend 'elasticsearch'",
    ),
    (
        {"logs": {"backend": "otlp", "endpoint": "http://logs:4317", "caSecret": "logs-ca"}},
        "observability.logs.caSecret",
        "logs-ca",
        "https:// endpoint",
    ),
    (
        {"logs": {"caKey": "ca crt"}},
        "observability.logs.caKey",
        "ca crt",
        "Secret data key",
    ),
]


@pytest.mark.parametrize(("obs", "key", "value", "allowed"), BAD, ids=[b[1] + b[2] for b in BAD])
def test_bad_observability_config_fails_before_any_resource(
    obs: dict[str, Any], key: str, value: str, allowed: str
) -> None:
    assert_rejected({"observability": obs}, key, value, allowed)


def test_monitoring_namespace_must_match_the_installed_prometheus() -> None:
    recording = Recording("prod")
    with pytest.raises(ConfigError) as raised:
        run_stack("prod", {"monitoringNamespace": "observability"}, recording=recording)
    assert recording.resources == []
    message = str(raised.value)
    assert "trading-platform:monitoringNamespace" in message
    assert "'observability'" in message
    assert "must equal observability.namespace 'monitoring'" in message


def test_no_dashboard_query_puts_a_selector_after_a_call() -> None:
    """PromQL takes label matchers only after a metric name: `f(...){job=~"x"}` does not parse
    (issue 14's CPU and Memory panels; tests/test_real_promql.py parses every query)."""
    for dashboard in load_dashboards():
        for panel in json.loads(dashboard.text)["panels"]:
            for target in panel.get("targets", []):
                expr = target.get("expr", "")
                assert not re.search(r"\)\s*\{", expr), f"{dashboard.stem}: {panel['title']}"


def test_adapter_rules_file_rejects_incomplete_and_duplicate_rules(tmp_path: Path) -> None:
    rule = {"seriesQuery": "m{}", "name": {"as": "m"}, "metricsQuery": "sum(<<.Series>>)"}
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump({"custom": [rule, rule]}))
    with pytest.raises(ValueError, match="two custom rules serve 'm'"):
        load_adapter_rules(path)
    path.write_text(yaml.safe_dump({"external": [{"seriesQuery": "m{}", "name": {"as": "m"}}]}))
    with pytest.raises(ValueError, match=r"needs seriesQuery, name\.as, metricsQuery"):
        load_adapter_rules(path)
    served = load_adapter_rules()  # the shipped file
    assert set(served.custom) == {"requests_per_second"}
    assert set(served.external) == {"scraper_queue_size"}


def test_kube_state_metrics_exports_every_pod_label_the_dashboards_select_on(
    stack: Recording,
) -> None:
    # kube-state-metrics drops pod labels it is not allowed; a dashboard filtering
    # kube_pod_labels on a dropped label shows nothing.
    used: set[str] = set()
    for path in sorted(DASHBOARDS_DIR.glob("*.json")):
        for query in re.findall(r"kube_pod_labels\{([^}]*)\}", path.read_text()):
            used |= set(re.findall(r"\blabel_(\w+)", query))
    assert used, "no dashboard filters kube_pod_labels by a pod label"
    release = next(
        r
        for r in stack.resources
        if r.type.startswith("kubernetes:helm.sh") and "prometheus" in r.name
    )
    allow = unwrap(release.inputs["values"])["kube-state-metrics"]["metricLabelsAllowlist"]
    allowed = {
        re.sub(r"\W", "_", label)
        for entry in allow
        if entry.startswith("pods=[")
        for label in entry[len("pods=[") : -1].split(",")
    }
    assert used <= allowed, used - allowed
