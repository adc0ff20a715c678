"""The tier's typed args, the Helm release names (Service DNS names are a contract), and the
labels its monitors carry."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import yaml

from components.naming import fullname
from components.scrape import ScrapeTarget
from components.workload import Manifest, Platform, Resources, Security

TOKEN = "trading:observability:Observability"
TIER = "observability"
# The tier's data files live beside its code.
DATA_DIR = Path(__file__).resolve().parent
ALERTS_FILE = DATA_DIR / "alerts.yaml"
ADAPTER_RULES_FILE = DATA_DIR / "metrics-adapter.yaml"
DASHBOARDS_DIR = DATA_DIR / "dashboards"
MONITORING_API = "monitoring.coreos.com/v1"
# The Grafana sidecar loads ConfigMaps carrying this label (kube-prometheus-stack's default).
DASHBOARD_LABEL = ("grafana_dashboard", "1")
DASHBOARD_FOLDER_ANNOTATION = "grafana_folder"
DASHBOARD_FOLDER = "Trading platform"
OTLP_GRPC, OTLP_HTTP = 4317, 4318
# Seed 001: Grafana on 3000, the Service as well as the container (the chart's Service is on 80).
GRAFANA_PORT = 3000
# The collector's `prometheus` exporter (application metrics received over OTLP).
PROMETHEUS_EXPORTER_PORT = 8889
SEVERITIES = ("critical", "warning", "info")

# The charts' pods get the same restricted container context as the platform's own workloads.
RESTRICTED_CONTAINER: Manifest = Security().container()


@dataclass(frozen=True)
class Names:
    """Helm release names and fullnameOverrides: Service DNS names are a contract."""

    release: str

    @property
    def stack(self) -> str:
        # kube-prometheus-stack cuts its fullname at 26 characters; stay within it.
        return fullname(self.release, "monitoring")[:26].rstrip("-")

    @property
    def grafana(self) -> str:
        return fullname(self.release, "grafana")

    @property
    def grafana_admin_secret(self) -> str:
        return f"{self.grafana}-admin"

    @property
    def kube_state_metrics(self) -> str:
        return fullname(self.release, "kube-state-metrics")

    @property
    def collector(self) -> str:
        return fullname(self.release, "otel-collector")

    @property
    def agent(self) -> str:
        return fullname(self.release, "otel-agent")

    @property
    def loki(self) -> str:
        return fullname(self.release, "loki")

    @property
    def metrics_adapter(self) -> str:
        return fullname(self.release, "metrics-adapter")

    @property
    def prometheus_service(self) -> str:
        return f"{self.stack}-prometheus"

    @property
    def alertmanager_service(self) -> str:
        return f"{self.stack}-alertmanager"


def collector_endpoint(release: str, namespace: str) -> str:
    """OTLP/gRPC address of the installed collector gateway, for OTEL_EXPORTER_OTLP_ENDPOINT."""
    return f"http://{Names(release).collector}.{namespace}:{OTLP_GRPC}"


@dataclass(frozen=True)
class ChartPin:
    repo: str
    version: str


@dataclass(frozen=True)
class PrometheusSpec:
    retention: str
    resources: Resources
    replicas: int = 1
    storage_size: str | None = None
    storage_class: str | None = None
    scrape_interval: str = "30s"


@dataclass(frozen=True)
class StackSizing:
    """Everything else kube-prometheus-stack runs, each with explicit requests and limits."""

    alertmanager_resources: Resources
    grafana_resources: Resources
    grafana_sidecar_resources: Resources
    operator_resources: Resources
    reloader_resources: Resources
    webhook_job_resources: Resources
    kube_state_metrics_resources: Resources
    node_exporter_resources: Resources
    node_exporter: bool
    control_plane: bool
    alertmanager_replicas: int = 1
    alertmanager_retention: str = "120h"
    # Notification receivers, routed by the alerts' severity label; none: the UI only.
    receivers: tuple[Receiver, ...] = ()
    # Helm installs a chart's CRDs once and never upgrades them: the chart's pre-upgrade Job
    # applies the pinned chart's CRDs (server-side, taking ownership) before the operator rolls.
    crd_upgrade_job: bool = True
    # Tag of the busybox image the Job's unpack step runs (the chart's default is `latest`).
    busybox_tag: str = "1.36"


@dataclass(frozen=True)
class Receiver:
    """Where Alertmanager notifies: the credential (webhook URL, Slack webhook URL, PagerDuty
    routing key) is the key `key` of the Secret `secret` in the monitoring namespace, mounted
    into Alertmanager and read through the receiver's `*_file` field, never put in values."""

    name: str
    type: Literal["webhook", "slack", "pagerduty"]
    secret: str
    key: str
    severities: tuple[str, ...]
    channel: str | None = None


@dataclass(frozen=True)
class CollectorSpec:
    resources: Resources
    image_repository: str
    replicas: int = 1


@dataclass(frozen=True)
class TraceExport:
    exporter: Literal["otlp", "debug"]
    endpoint: str | None = None
    insecure: bool = True


@dataclass(frozen=True)
class LogsSpec:
    backend: Literal["loki", "otlp", "elasticsearch", "none"]
    retention: str
    agent_resources: Resources
    endpoint: str | None = None
    # Secret (monitoring namespace) with `username` and `password`: Elasticsearch basic auth.
    credentials_secret: str | None = None
    # Secret (monitoring namespace) with the CA of the endpoint's certificate, under `ca_key`.
    ca_secret: str | None = None
    ca_key: str = "ca.crt"
    loki_resources: Resources | None = None
    loki_storage_size: str | None = None


@dataclass(frozen=True)
class MetricsAdapterSpec:
    """prometheus-adapter serving the autoscalers' custom (Pods/Object) and external metrics."""

    resources: Resources
    # Metric names the stack's HPAs use, by API: a rule of the rules file serves each.
    custom: tuple[str, ...] = ()
    external: tuple[str, ...] = ()
    replicas: int = 1
    # cert-manager issues the serving certificate and injects its CA into the APIServices.
    cert_manager: bool = False


@dataclass(frozen=True)
class AdapterRules:
    custom: Mapping[str, Manifest]
    external: Mapping[str, Manifest]


def load_adapter_rules(path: Path = ADAPTER_RULES_FILE) -> AdapterRules:
    """The rules file, by the metric name each rule serves (`name.as`)."""
    document = yaml.safe_load(path.read_text()) or {}
    found: dict[str, dict[str, Manifest]] = {"custom": {}, "external": {}}
    for api, rules in found.items():
        for rule in document.get(api) or []:
            served = (rule.get("name") or {}).get("as")
            if not served or not rule.get("seriesQuery") or not rule.get("metricsQuery"):
                raise ValueError(
                    f"{path.name}: every {api} rule needs seriesQuery, name.as, metricsQuery"
                )
            if served in rules:
                raise ValueError(f"{path.name}: two {api} rules serve {served!r}")
            rules[served] = rule
    return AdapterRules(custom=found["custom"], external=found["external"])


@dataclass(frozen=True)
class AlertThresholds:
    error_rate: float
    p99_latency_seconds: float
    restarts_per_hour: int = 3
    volume_full_ratio: float = 0.85
    redis_memory_ratio: float = 0.9
    cert_manager: bool = False
    cert_expiry_days: int = 14
    # Availability SLO (share of non-5xx requests); burn-rate alerts spend its error budget.
    slo_availability: float = 0.999


@dataclass(frozen=True)
class ObservabilityArgs:
    platform: Platform
    # False: the cluster already runs Prometheus/Grafana/a collector; install nothing.
    install: bool
    # The monitoring namespace (charts, Grafana dashboards).
    namespace: str
    charts: Mapping[str, ChartPin]
    prometheus: PrometheusSpec
    stack: StackSizing
    collector: CollectorSpec
    traces: TraceExport
    logs: LogsSpec
    alerts: AlertThresholds
    scrape_targets: tuple[ScrapeTarget, ...] = ()
    # Labels the cluster's Prometheus selects monitors and rules by (install: false).
    monitor_labels: Mapping[str, str] | None = None
    # NATS KV bucket whose stream must stay available.
    kv_bucket: str | None = None
    # None: no adapter (no autoscaler uses custom or external metrics, or the cluster has one).
    metrics_adapter: MetricsAdapterSpec | None = None
    adapter_rules_file: Path = ADAPTER_RULES_FILE
    dashboards_dir: Path = DASHBOARDS_DIR
    alerts_file: Path = ALERTS_FILE

    @property
    def names(self) -> Names:
        return Names(self.platform.release)


def monitor_labels(args: ObservabilityArgs) -> dict[str, str]:
    """The installed chart's Prometheus selects monitors and rules labelled `release: <its Helm
    release>` (its `*SelectorNilUsesHelmValues: true` default), so the chart's own monitors and
    ours share one selector. Without install, the cluster's Prometheus decides (`monitorLabels`;
    the chart's conventional `release: kube-prometheus-stack` when unset)."""
    if args.install:
        return {**dict(args.monitor_labels or {}), "release": args.names.stack}
    return dict(args.monitor_labels or {"release": "kube-prometheus-stack"})
