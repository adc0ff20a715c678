"""The observability tier: kube-prometheus-stack (Prometheus, Alertmanager, Grafana, the operator,
kube-state-metrics), the OpenTelemetry collector, logs (Loki or an external endpoint), and the
platform's own monitors, alert rules and dashboards (seeds 001, 003, 004).

Alert rules and dashboards are data: `observability/alerts.yaml` (thresholds filled in from
args) and `observability/dashboards/*.json`. Scrape targets arrive as `ScrapeTarget`s; the stack
derives them from every declared workload (`WorkloadMetrics`): a container port named `metrics`,
or the `prometheus.io/scrape` pod annotations, is scraped by a PodMonitor.
"""

from __future__ import annotations

import json
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import pulumi
import pulumi_kubernetes as k8s
import yaml

from components.graph import ServicePort
from components.kube import kube
from components.naming import fullname
from components.network import namespace_traffic_spec
from components.quantities import parse_bytes
from components.secrets import CredentialArgs, Credentials
from components.workload import Manifest, Platform, Resources, Security

TOKEN = "trading:observability:Observability"
TIER = "observability"
DATA_DIR = Path(__file__).resolve().parent.parent / "observability"
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
METRICS_PORT = "metrics"
SEVERITIES = ("critical", "warning", "info")
WORKLOAD_TYPES = {
    "kubernetes:apps/v1:Deployment",
    "kubernetes:apps/v1:StatefulSet",
    "kubernetes:apps/v1:DaemonSet",
}


# --- scrape targets -------------------------------------------------------------------------


@dataclass(frozen=True)
class ScrapeTarget:
    """One scrape endpoint: pods (or a Service) matching `selector`, on the port named `port`."""

    component: str
    selector: Mapping[str, str]
    port: str
    path: str = "/metrics"
    kind: Literal["service", "pod"] = "pod"
    # Namespace of the pods/Service (and of the monitor object). None: the platform's.
    namespace: pulumi.Input[str] | None = None
    # Monitor object name. None: `{release}-{component}`.
    name: str | None = None
    # Keep the scraped `job`/`instance` labels (the collector re-exports other services' series).
    honor_labels: bool = False
    # Scrape this port number instead of the named port (Istio's merged-metrics port).
    port_number: int | None = None

    @property
    def monitor_kind(self) -> str:
        return "PodMonitor" if self.kind == "pod" else "ServiceMonitor"


def monitor_spec(target: ScrapeTarget, interval: str) -> Manifest:
    """PodMonitor / ServiceMonitor spec; `job` is the pods' `app.kubernetes.io/name`."""
    endpoint: Manifest = {"port": target.port, "path": target.path, "interval": interval}
    if target.port_number is not None:
        endpoint = {"portNumber": target.port_number, "path": target.path, "interval": interval}
    if target.honor_labels:
        endpoint["honorLabels"] = True
    spec: Manifest = {"selector": {"matchLabels": dict(target.selector)}}
    if target.kind == "pod":
        spec["jobLabel"] = "app.kubernetes.io/name"
        spec["podMetricsEndpoints"] = [endpoint]
    else:
        spec["endpoints"] = [endpoint]
    return spec


def _ports(pod: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    containers = list(pod.get("containers") or []) + list(pod.get("initContainers") or [])
    return [p for c in containers if isinstance(c, Mapping) for p in c.get("ports") or []]


# Where an Istio sidecar serves the app's announced metrics merged with its own, in plain HTTP:
# mTLS-only app ports can't be scraped by a Prometheus outside the mesh.
ISTIO_MERGED_METRICS = ScrapeTarget(
    component="", selector={}, port="", path="/stats/prometheus", port_number=15020
)


def targets_from_workload(
    metadata: Mapping[str, Any], spec: Mapping[str, Any], mesh: bool = False
) -> list[ScrapeTarget]:
    """What a Deployment/StatefulSet/DaemonSet exposes for scraping: any container port named
    `metrics` (exporter sidecars, dedicated metrics ports), and the port the
    `prometheus.io/scrape: "true"` annotations announce (`prometheus.io/port`, name or number,
    and `prometheus.io/path`)."""
    template = spec.get("template") or {}
    pod_meta = template.get("metadata") or {}
    selector = (spec.get("selector") or {}).get("matchLabels") or pod_meta.get("labels") or {}
    if not isinstance(selector, Mapping) or not selector:
        return []
    annotations = pod_meta.get("annotations") or {}
    ports = _ports(template.get("spec") or {})
    named = {p.get("name") for p in ports}
    by_number = {p.get("containerPort"): p.get("name") for p in ports if p.get("name")}
    component = str(selector.get("app.kubernetes.io/name") or metadata.get("name"))
    workload = metadata.get("name")
    namespace = metadata.get("namespace")

    wanted: dict[str, str] = {}
    if METRICS_PORT in named:
        wanted[METRICS_PORT] = "/metrics"
    if str(annotations.get("prometheus.io/scrape", "")).lower() == "true":
        announced = str(annotations.get("prometheus.io/port", METRICS_PORT))
        port_name = by_number.get(int(announced)) if announced.isdigit() else announced
        if port_name in named:
            wanted[str(port_name)] = str(annotations.get("prometheus.io/path", "/metrics"))
    # Dedicated `metrics` ports bypass the sidecar (the Workload excludes them from interception);
    # an announced app port behind a sidecar is scraped through Istio's merged-metrics port.
    meshed = mesh and annotations.get("sidecar.istio.io/inject") != "false"
    targets = []
    for port, path in wanted.items():
        name = None
        if isinstance(workload, str):
            name = workload if port == METRICS_PORT else f"{workload}-{port}"
        target = ScrapeTarget(
            component=component,
            selector=dict(selector),
            port=port,
            path=path,
            namespace=namespace,
            name=name,
        )
        if meshed and port != METRICS_PORT:
            target = replace(target, port="", path=ISTIO_MERGED_METRICS.path, port_number=15020)
        targets.append(target)
    return targets


class WorkloadMetrics:
    """Collects scrape targets from every workload the stack declares.

    `observe` is a resource transformation: it reads (never changes) the inputs of each
    Deployment, StatefulSet and DaemonSet as it is constructed, so a tier that adds an exporter
    sidecar with a port named `metrics` is scraped without touching this tier.
    """

    def __init__(self, mesh: bool = False) -> None:
        self._targets: list[ScrapeTarget] = []
        self._mesh = mesh

    def observe(
        self, args: pulumi.ResourceTransformationArgs
    ) -> pulumi.ResourceTransformationResult | None:
        if args.type_ in WORKLOAD_TYPES:
            metadata, spec = args.props.get("metadata"), args.props.get("spec")
            if isinstance(metadata, Mapping) and isinstance(spec, Mapping):
                self._targets.extend(targets_from_workload(metadata, spec, self._mesh))
        return None

    @property
    def targets(self) -> tuple[ScrapeTarget, ...]:
        return tuple(self._targets)


# --- names -----------------------------------------------------------------------------------


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


# --- args ------------------------------------------------------------------------------------


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


# --- chart values ----------------------------------------------------------------------------


def _retention_size(storage: str) -> str:
    """Prometheus' size cap at 85% of its volume, so a burst cannot fill the disk."""
    mib = Decimal(parse_bytes(storage)) * Decimal("0.85") / 2**20
    return f"{int(mib // 1024)}GB" if mib >= 1024 else f"{int(mib)}MB"


ALERTMANAGER_SECRETS_DIR = "/etc/alertmanager/secrets"
NULL_RECEIVER = "null"
ALERTMANAGER_RECEIVERS_FILE = DATA_DIR / "alertmanager.yaml"


def _receiver_config(receiver: Receiver) -> Manifest:
    path = f"{ALERTMANAGER_SECRETS_DIR}/{receiver.secret}/{receiver.key}"
    if receiver.type == "pagerduty":
        return {"pagerduty_configs": [{"routing_key_file": path, "send_resolved": True}]}
    if receiver.type == "slack":
        slack: Manifest = {"api_url_file": path, "send_resolved": True}
        if receiver.channel:
            slack["channel"] = receiver.channel
        return {"slack_configs": [slack]}
    return {"webhook_configs": [{"url_file": path, "send_resolved": True}]}


def alertmanager_config(receivers: Sequence[Receiver], path: Path | None = None) -> Manifest:
    """The static part (grouping, timing, inhibition) is observability/alertmanager.yaml; each
    receiver gets one route per severity it takes (`continue`, so several receivers may take
    one severity). Unmatched alerts go to the `null` receiver (visible in the UI only)."""
    base = yaml.safe_load((path or ALERTMANAGER_RECEIVERS_FILE).read_text())
    routes: list[Manifest] = list(base["route"].get("routes") or [])
    for severity in SEVERITIES:
        for receiver in receivers:
            if severity in receiver.severities:
                routes.append(
                    {
                        "receiver": receiver.name,
                        "matchers": [f'severity="{severity}"'],
                        "continue": True,
                        **(base.get("repeat_by_severity") or {}).get(severity, {}),
                    }
                )
    return {
        "global": base["global"],
        "route": {**base["route"], "receiver": NULL_RECEIVER, "routes": routes},
        "inhibit_rules": base["inhibit_rules"],
        "receivers": [{"name": NULL_RECEIVER}]
        + [{"name": r.name, **_receiver_config(r)} for r in receivers],
        "templates": base.get("templates") or [],
    }


def crd_upgrade_job_values(s: StackSizing) -> Manifest:
    """The chart's CRD upgrade Job (a pre-install/pre-upgrade/pre-rollback hook): unpacks the
    chart's CRDs (busybox) and `kubectl apply --server-side --force-conflicts` them, so moving the
    pin moves the CRDs with the operator; kubectl's tag follows the cluster's version."""
    if not s.crd_upgrade_job:
        return {"enabled": False}
    return {
        "enabled": True,
        "forceConflicts": True,
        "image": {"busybox": {"tag": s.busybox_tag}},
        "resources": s.webhook_job_resources.manifest(),
        "containerSecurityContext": RESTRICTED_CONTAINER,
    }


def kube_prometheus_stack_values(args: ObservabilityArgs) -> Manifest:
    names, p, s = args.names, args.prometheus, args.stack
    cp, ne = s.control_plane, s.node_exporter
    prometheus: Manifest = {
        "replicas": p.replicas,
        "retention": p.retention,
        "scrapeInterval": p.scrape_interval,
        "resources": p.resources.manifest(),
        # Monitors and rules labelled `release: <this release>` in any namespace (ours carry it).
        "serviceMonitorSelectorNilUsesHelmValues": True,
        "podMonitorSelectorNilUsesHelmValues": True,
        "ruleSelectorNilUsesHelmValues": True,
        "serviceMonitorNamespaceSelector": {},
        "podMonitorNamespaceSelector": {},
        "ruleNamespaceSelector": {},
    }
    if p.storage_size:
        claim: Manifest = {
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": p.storage_size}},
        }
        if p.storage_class:
            claim["storageClassName"] = p.storage_class
        prometheus["storageSpec"] = {"volumeClaimTemplate": {"spec": claim}}
        prometheus["retentionSize"] = _retention_size(p.storage_size)
    grafana: Manifest = {
        "enabled": True,
        "fullnameOverride": names.grafana,
        # The generated credentials live in a Secret, not in the release's values.
        "admin": {
            "existingSecret": names.grafana_admin_secret,
            "userKey": "admin-user",
            "passwordKey": "admin-password",
        },
        "resources": s.grafana_resources.manifest(),
        "persistence": {"enabled": False},
        "testFramework": {"enabled": False},
        # The container listens on targetPort (the chart's containerPort); the Service on port.
        "service": {"port": GRAFANA_PORT, "targetPort": GRAFANA_PORT},
        "sidecar": {
            "resources": s.grafana_sidecar_resources.manifest(),
            "dashboards": {
                "enabled": True,
                "label": DASHBOARD_LABEL[0],
                "labelValue": DASHBOARD_LABEL[1],
                "folderAnnotation": DASHBOARD_FOLDER_ANNOTATION,
                "provider": {"foldersFromFilesStructure": True},
            },
            "datasources": {"enabled": True},
        },
    }
    datasources = log_datasources(args)
    if datasources:
        grafana["additionalDataSources"] = datasources
        grafana.update(grafana_logs_access(args))
    return {
        "fullnameOverride": names.stack,
        "crds": {"enabled": True, "upgradeJob": crd_upgrade_job_values(s)},
        "defaultRules": {
            "create": True,
            "rules": {
                "etcd": cp,
                "kubeControllerManager": cp,
                "kubeSchedulerAlerting": cp,
                "kubeSchedulerRecording": cp,
                "kubeProxy": cp,
                "nodeExporterAlerting": ne,
                "nodeExporterRecording": ne,
                "windows": False,
            },
        },
        "kubeEtcd": {"enabled": cp},
        "kubeControllerManager": {"enabled": cp},
        "kubeScheduler": {"enabled": cp},
        "kubeProxy": {"enabled": cp},
        "nodeExporter": {"enabled": ne},
        "prometheus-node-exporter": {"resources": s.node_exporter_resources.manifest()},
        "kubeStateMetrics": {"enabled": True},
        "kube-state-metrics": {
            "fullnameOverride": names.kube_state_metrics,
            # kube_pod_labels carries only allowed labels; dashboards select pods by this one.
            "metricLabelsAllowlist": ["pods=[app.kubernetes.io/name]"],
            "resources": s.kube_state_metrics_resources.manifest(),
        },
        "prometheusOperator": {
            "resources": s.operator_resources.manifest(),
            "prometheusConfigReloader": {"resources": s.reloader_resources.manifest()},
            "admissionWebhooks": {"patch": {"resources": s.webhook_job_resources.manifest()}},
        },
        "prometheus": {"prometheusSpec": prometheus},
        "alertmanager": {
            "config": alertmanager_config(s.receivers),
            "alertmanagerSpec": {
                "replicas": s.alertmanager_replicas,
                "retention": s.alertmanager_retention,
                "resources": s.alertmanager_resources.manifest(),
                # Mounted at /etc/alertmanager/secrets/<name>/<key> by the operator.
                "secrets": sorted({r.secret for r in s.receivers}),
            },
        },
        "grafana": grafana,
    }


def loki_url(args: ObservabilityArgs) -> str:
    return f"http://{args.names.loki}.{args.namespace}:3100"


def log_datasources(args: ObservabilityArgs) -> list[Manifest]:
    """Grafana datasources for the logs backend (the chart adds Prometheus and Alertmanager)."""
    logs = args.logs
    if logs.backend == "loki":
        return [{"name": "Loki", "uid": "loki", "type": "loki", "url": loki_url(args)}]
    if logs.backend == "elasticsearch" and logs.endpoint:
        source: Manifest = {
            "name": "Elasticsearch",
            "uid": "elasticsearch",
            "type": "elasticsearch",
            "url": logs.endpoint,
            "jsonData": {"index": "logs-*", "timeField": "@timestamp"},
        }
        secure: Manifest = {}
        if logs.credentials_secret:
            # Grafana expands $VAR in provisioning files from its environment (grafana_env).
            source["basicAuth"] = True
            source["basicAuthUser"] = f"${LOGS_USERNAME_ENV}"
            secure["basicAuthPassword"] = f"${LOGS_PASSWORD_ENV}"
        if logs.ca_secret:
            source["jsonData"]["tlsAuthWithCACert"] = True
            secure["tlsCACert"] = f"$__file{{{GRAFANA_LOGS_CA_DIR}/{logs.ca_key}}}"
        if secure:
            source["secureJsonData"] = secure
        return [source]
    return []


GRAFANA_LOGS_CA_DIR = "/etc/grafana/logs-ca"


def grafana_logs_access(args: ObservabilityArgs) -> Manifest:
    """Grafana's environment and mounts for the Elasticsearch datasource's credentials and CA."""
    logs = args.logs
    values: Manifest = {}
    if logs.backend != "elasticsearch":
        return values
    if logs.credentials_secret:
        values["envValueFrom"] = {
            env: {"secretKeyRef": {"name": logs.credentials_secret, "key": key}}
            for env, key in ((LOGS_USERNAME_ENV, "username"), (LOGS_PASSWORD_ENV, "password"))
        }
    if logs.ca_secret:
        values["extraSecretMounts"] = [
            {
                "name": LOGS_CA_VOLUME,
                "secretName": logs.ca_secret,
                "mountPath": GRAFANA_LOGS_CA_DIR,
                "readOnly": True,
            }
        ]
    return values


# Where the collector and the log agent find the logs backend's credentials and CA.
LOGS_USERNAME_ENV, LOGS_PASSWORD_ENV = "ELASTICSEARCH_USERNAME", "ELASTICSEARCH_PASSWORD"
LOGS_CA_VOLUME = "logs-ca"
LOGS_CA_DIR = "/etc/otel/logs-ca"


def logs_exporter(args: ObservabilityArgs) -> tuple[str, Manifest]:
    """The collector exporter (id, config) that ships logs to the configured backend."""
    logs = args.logs
    if logs.backend == "loki":
        # Loki 3 ingests OTLP natively at /otlp.
        return "otlp_http/loki", {"endpoint": f"{loki_url(args)}/otlp"}
    tls: Manifest = {}
    if logs.ca_secret:
        tls["ca_file"] = f"{LOGS_CA_DIR}/{logs.ca_key}"
    if logs.backend == "otlp" and logs.endpoint:
        insecure = not logs.endpoint.startswith("https://")
        return "otlp_grpc/logs", {"endpoint": logs.endpoint, "tls": {"insecure": insecure, **tls}}
    if logs.backend == "elasticsearch" and logs.endpoint:
        config: Manifest = {"endpoints": [logs.endpoint], "logs_index": "logs-trading-platform"}
        if logs.credentials_secret:
            config["user"] = f"${{env:{LOGS_USERNAME_ENV}}}"
            config["password"] = f"${{env:{LOGS_PASSWORD_ENV}}}"
        if tls:
            config["tls"] = tls
        return "elasticsearch", config
    return "debug", {"verbosity": "basic"}


def logs_client_values(args: ObservabilityArgs) -> Manifest:
    """What the collector and the log agent need to reach the logs backend: the credentials as
    environment from their Secret (never in the values) and the CA mounted read-only."""
    logs = args.logs
    values: Manifest = {}
    if logs.credentials_secret:
        values["extraEnvs"] = [
            {
                "name": env,
                "valueFrom": {"secretKeyRef": {"name": logs.credentials_secret, "key": key}},
            }
            for env, key in ((LOGS_USERNAME_ENV, "username"), (LOGS_PASSWORD_ENV, "password"))
        ]
    if logs.ca_secret:
        values["extraVolumes"] = [
            {"name": LOGS_CA_VOLUME, "secret": {"secretName": logs.ca_secret}}
        ]
        values["extraVolumeMounts"] = [
            {"name": LOGS_CA_VOLUME, "mountPath": LOGS_CA_DIR, "readOnly": True}
        ]
    return values


def traces_exporter(args: ObservabilityArgs) -> tuple[str, Manifest]:
    traces = args.traces
    if traces.exporter == "otlp" and traces.endpoint:
        return "otlp_grpc/traces", {
            "endpoint": traces.endpoint,
            "tls": {"insecure": traces.insecure},
        }
    return "debug", {"verbosity": "basic"}


PROCESSORS: Manifest = {
    # Refuse data before the pod is OOM-killed, then batch what is accepted.
    "memory_limiter": {
        "check_interval": "1s",
        "limit_percentage": 80,
        "spike_limit_percentage": 25,
    },
    "batch": {"send_batch_size": 8192, "timeout": "5s"},
}
PIPELINE_PROCESSORS = ["memory_limiter", "batch"]
# The log agent's receiver (the chart's logsCollection preset), as collector-contrib >= 0.149.0
# names it (`filelog` before).
LOG_RECEIVER = "file_log"

# The charts' pods get the same restricted container context as the platform's own workloads.
RESTRICTED_CONTAINER: Manifest = Security().container()


def collector_values(args: ObservabilityArgs) -> Manifest:
    """The gateway: OTLP in on 4317/4318; metrics out through the `prometheus` exporter
    (scraped by a ServiceMonitor), traces to the configured backend, application logs to the
    logs backend."""
    c = args.collector
    traces_id, traces_config = traces_exporter(args)
    logs_id, logs_config = logs_exporter(args)
    exporters: Manifest = {
        "prometheus": {
            "endpoint": f"${{env:MY_POD_IP}}:{PROMETHEUS_EXPORTER_PORT}",
            "resource_to_telemetry_conversion": {"enabled": True},
        },
        traces_id: traces_config,
        logs_id: logs_config,
    }

    def pipeline(exporter: str) -> Manifest:
        return {"receivers": ["otlp"], "processors": PIPELINE_PROCESSORS, "exporters": [exporter]}

    return {
        **logs_client_values(args),
        "mode": "deployment",
        "fullnameOverride": args.names.collector,
        # The kubernetesAttributes preset's processor as `k8s_attributes` (its current name).
        "rewriteDeprecatedComponentNames": True,
        "image": {"repository": c.image_repository},
        "command": {"name": "otelcol-contrib"},
        "replicaCount": c.replicas,
        "resources": c.resources.manifest(),
        "securityContext": RESTRICTED_CONTAINER,
        "presets": {"kubernetesAttributes": {"enabled": True}},
        "ports": {
            "otlp": {"enabled": True},
            "otlp-http": {"enabled": True},
            "jaeger-compact": {"enabled": False},
            "jaeger-thrift": {"enabled": False},
            "jaeger-grpc": {"enabled": False},
            "zipkin": {"enabled": False},
            "metrics": {"enabled": True},
            "prom-exporter": {
                "enabled": True,
                "containerPort": PROMETHEUS_EXPORTER_PORT,
                "servicePort": PROMETHEUS_EXPORTER_PORT,
                "protocol": "TCP",
            },
        },
        "config": {
            "receivers": {
                "otlp": {
                    "protocols": {
                        "grpc": {"endpoint": f"${{env:MY_POD_IP}}:{OTLP_GRPC}"},
                        "http": {"endpoint": f"${{env:MY_POD_IP}}:{OTLP_HTTP}"},
                    }
                }
            },
            "processors": PROCESSORS,
            "exporters": exporters,
            "service": {
                "pipelines": {
                    "metrics": pipeline("prometheus"),
                    "traces": pipeline(traces_id),
                    "logs": pipeline(logs_id),
                }
            },
        },
    }


def agent_values(args: ObservabilityArgs) -> Manifest:
    """The log agent: a collector daemonset tailing /var/log/pods (the chart's logsCollection
    preset), adding pod metadata, shipping to the logs backend. The receiver is `file_log`, its
    name since collector-contrib 0.149.0: the pinned chart (0.170.0) writes the preset as
    `filelog` and renames it, and every pipeline reference, to `file_log` under
    `rewriteDeprecatedComponentNames` (its UPGRADING.md, 0.167.0 to 0.168.0), which is set
    explicitly so the pipeline below names a receiver the config defines. It reads root-owned
    log files, so it runs as UID 0 with every capability dropped and a read-only root
    filesystem."""
    logs_id, logs_config = logs_exporter(args)
    values: Manifest = {
        "mode": "daemonset",
        "fullnameOverride": args.names.agent,
        "rewriteDeprecatedComponentNames": True,
        "image": {"repository": args.collector.image_repository},
        "command": {"name": "otelcol-contrib"},
        "resources": args.logs.agent_resources.manifest(),
        "securityContext": {**RESTRICTED_CONTAINER, "runAsNonRoot": False, "runAsUser": 0},
        "tolerations": [{"operator": "Exists"}],
        "presets": {
            "logsCollection": {"enabled": True, "includeCollectorLogs": False},
            "kubernetesAttributes": {"enabled": True},
        },
        "ports": {
            name: {"enabled": False}
            for name in (
                "otlp",
                "otlp-http",
                "jaeger-compact",
                "jaeger-thrift",
                "jaeger-grpc",
                "zipkin",
                "metrics",
            )
        },
        "config": {
            "processors": PROCESSORS,
            "exporters": {logs_id: logs_config, "debug": {"verbosity": "basic"}},
            "service": {
                "pipelines": {
                    "logs": {
                        "receivers": [LOG_RECEIVER],
                        "processors": PIPELINE_PROCESSORS,
                        "exporters": [logs_id],
                    },
                    # The chart's default metrics/traces pipelines, kept minimal.
                    "metrics": {
                        "receivers": ["otlp"],
                        "processors": PIPELINE_PROCESSORS,
                        "exporters": ["debug"],
                    },
                    "traces": {
                        "receivers": ["otlp"],
                        "processors": PIPELINE_PROCESSORS,
                        "exporters": ["debug"],
                    },
                }
            },
        },
    }
    values.update(logs_client_values(args))
    return values


def metrics_adapter_values(args: ObservabilityArgs) -> Manifest:
    """prometheus-adapter with exactly the rules the autoscalers need (no default rules, no
    resource metrics: metrics-server keeps metrics.k8s.io), reading the installed Prometheus."""
    spec = args.metrics_adapter
    assert spec is not None
    rules = load_adapter_rules(args.adapter_rules_file)
    missing = [m for m in spec.custom if m not in rules.custom] + [
        m for m in spec.external if m not in rules.external
    ]
    if missing:
        raise ValueError(f"no metrics adapter rule serves {', '.join(missing)}")
    values: Manifest = {
        "fullnameOverride": args.names.metrics_adapter,
        "replicas": spec.replicas,
        "resources": spec.resources.manifest(),
        "prometheus": {
            "url": f"http://{args.names.prometheus_service}.{args.namespace}.svc",
            "port": 9090,
        },
        "rules": {
            "default": False,
            "custom": [rules.custom[m] for m in sorted(spec.custom)],
            "external": [rules.external[m] for m in sorted(spec.external)],
        },
    }
    if spec.replicas >= 2:
        values["podDisruptionBudget"] = {"enabled": True, "maxUnavailable": 1}
    # Without it the chart's APIServices set insecureSkipTLSVerify.
    values["certManager"] = {"enabled": spec.cert_manager}
    return values


def loki_values(args: ObservabilityArgs) -> Manifest:
    """Loki as one pod (SingleBinary) on a filesystem volume, with retention; no caches, canary,
    gateway or object store, which a laptop does not need."""
    logs = args.logs
    assert logs.loki_resources is not None and logs.loki_storage_size is not None
    return {
        "fullnameOverride": args.names.loki,
        "deploymentMode": "SingleBinary",
        "loki": {
            "auth_enabled": False,
            "commonConfig": {"replication_factor": 1},
            "storage": {"type": "filesystem"},
            "schemaConfig": {
                "configs": [
                    {
                        "from": "2024-04-01",
                        "store": "tsdb",
                        "object_store": "filesystem",
                        "schema": "v13",
                        "index": {"prefix": "loki_index_", "period": "24h"},
                    }
                ]
            },
            "limits_config": {
                "retention_period": logs.retention,
                "allow_structured_metadata": True,
                "volume_enabled": True,
            },
            "compactor": {"retention_enabled": True, "delete_request_store": "filesystem"},
        },
        "singleBinary": {
            "replicas": 1,
            "resources": logs.loki_resources.manifest(),
            "persistence": {"enabled": True, "size": logs.loki_storage_size},
        },
        "read": {"replicas": 0},
        "write": {"replicas": 0},
        "backend": {"replicas": 0},
        "gateway": {"enabled": False},
        "chunksCache": {"enabled": False},
        "resultsCache": {"enabled": False},
        "lokiCanary": {"enabled": False},
        "test": {"enabled": False},
        "minio": {"enabled": False},
        "sidecar": {"rules": {"enabled": False}},
    }


# --- alerts and dashboards as data ---------------------------------------------------------


class _RuleTemplate(string.Template):
    # `$` belongs to Alertmanager's templates ({{ $labels.pod }}); placeholders are @{name}.
    delimiter = "@"


def _substitute(value: Any, values: Mapping[str, object]) -> Any:
    if isinstance(value, str):
        return _RuleTemplate(value).substitute(values)
    if isinstance(value, dict):
        return {k: _substitute(v, values) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, values) for v in value]
    return value


def _budget(slo: float, burn: float) -> str:
    """The error ratio at which a burn rate spends the SLO's error budget, in plain decimals."""
    return f"{(Decimal('1') - Decimal(str(slo))) * Decimal(str(burn)):f}"


def alert_groups(
    text: str,
    thresholds: AlertThresholds,
    *,
    namespace: str,
    release: str,
    kv_bucket: str | None,
) -> list[Manifest]:
    """The rule groups of `alerts.yaml`, placeholders filled in. A group with `requires: <flag>`
    is kept only when the flag holds (certManager, kvBucket). Every alert must carry a severity
    label and summary and runbook annotations."""
    flags = {"certManager": thresholds.cert_manager, "kvBucket": kv_bucket is not None}
    values = {
        "namespace": namespace,
        "release": release,
        "kv_stream": f"KV_{kv_bucket}",
        "error_rate": thresholds.error_rate,
        "p99_latency": thresholds.p99_latency_seconds,
        "restarts": thresholds.restarts_per_hour,
        "volume_ratio": thresholds.volume_full_ratio,
        "volume_percent": round(thresholds.volume_full_ratio * 100),
        "redis_memory_ratio": thresholds.redis_memory_ratio,
        "redis_memory_percent": round(thresholds.redis_memory_ratio * 100),
        "cert_expiry_seconds": thresholds.cert_expiry_days * 86400,
        "cert_expiry_days": thresholds.cert_expiry_days,
        # Multi-window burn rates (Google SRE workbook): 14.4x spends 2% of a 30-day budget in
        # an hour, 6x spends 5% in six hours.
        "slo_percent": f"{thresholds.slo_availability * 100:g}",
        "slo_burn_fast": _budget(thresholds.slo_availability, 14.4),
        "slo_burn_slow": _budget(thresholds.slo_availability, 6),
    }
    document = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)) or {}
    groups = []
    for group in document.get("groups") or []:
        group = dict(group)
        required = group.pop("requires", None)
        if required is not None:
            if required not in flags:
                raise ValueError(f"alert group {group.get('name')}: unknown requires {required!r}")
            if not flags[required]:
                continue
        for rule in group.get("rules") or []:
            name = rule.get("alert") or rule.get("record")
            if "alert" not in rule:
                continue
            severity = (rule.get("labels") or {}).get("severity")
            if severity not in SEVERITIES:
                raise ValueError(f"alert {name}: severity must be one of {', '.join(SEVERITIES)}")
            missing = [
                k for k in ("summary", "runbook") if not (rule.get("annotations") or {}).get(k)
            ]
            if missing:
                raise ValueError(f"alert {name}: annotations lack {', '.join(missing)}")
        groups.append(_substitute(group, values))
    return groups


@dataclass(frozen=True)
class Dashboard:
    stem: str
    uid: str
    title: str
    text: str


def load_dashboards(directory: Path = DASHBOARDS_DIR) -> list[Dashboard]:
    """Every `*.json` dashboard: valid JSON with a title and a uid no other dashboard uses."""
    dashboards: list[Dashboard] = []
    seen: dict[str, str] = {}
    for path in sorted(directory.glob("*.json")):
        text = path.read_text()
        try:
            body = json.loads(text)
        except json.JSONDecodeError as error:
            raise ValueError(f"dashboard {path.name} is not valid JSON: {error}") from None
        uid, title = body.get("uid"), body.get("title")
        if not uid or not title:
            raise ValueError(f"dashboard {path.name} needs a uid and a title")
        if uid in seen:
            raise ValueError(f"dashboard {path.name} reuses uid {uid!r} of {seen[uid]}")
        seen[uid] = path.name
        dashboards.append(Dashboard(path.stem, uid, title, text))
    return dashboards


def otlp_egress_spec(monitoring_namespace: str) -> Manifest:
    """Every platform pod may send OTLP to the collector in the monitoring namespace."""
    otlp = (ServicePort("otlp", OTLP_GRPC), ServicePort("otlp-http", OTLP_HTTP))
    return namespace_traffic_spec("Egress", monitoring_namespace, otlp)


def namespace_labels(args: ObservabilityArgs) -> dict[str, str]:
    """The monitoring namespace: the log agent and node exporter mount host paths, which only
    the `privileged` Pod Security level admits; audit and warn keep reporting against baseline."""
    host_access = args.logs.backend != "none" or args.stack.node_exporter
    return {
        **args.platform.labels("monitoring", TIER),
        "pod-security.kubernetes.io/enforce": "privileged" if host_access else "baseline",
        "pod-security.kubernetes.io/audit": "baseline",
        "pod-security.kubernetes.io/warn": "baseline",
    }


# --- the component ---------------------------------------------------------------------------


class Observability(pulumi.ComponentResource):
    """Monitoring charts (when installed), monitors, alert rules, dashboards, OTLP egress."""

    def __init__(
        self, name: str, args: ObservabilityArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(TOKEN, name, None, opts)
        platform, names = args.platform, args.names
        labels = monitor_labels(args)
        protect = platform.protect_data
        guarded = pulumi.ResourceOptions(parent=self, protect=protect, retain_on_delete=protect)
        dashboards = load_dashboards(args.dashboards_dir)
        rules_text = args.alerts_file.read_text()

        monitoring: pulumi.Input[str] = args.namespace
        crd_source: list[pulumi.Resource] = []
        namespace_deps: list[pulumi.Resource] = []
        self.releases: dict[str, k8s.helm.v3.Release] = {}
        self.grafana_service: str | None = None
        self.grafana_admin_secret: str | None = None
        self.prometheus_service: str | None = None
        self.alertmanager_service: str | None = None
        targets = list(args.scrape_targets)
        if args.install:
            ns = kube(
                k8s.core.v1.Namespace,
                f"{name}-namespace",
                metadata={"name": args.namespace, "labels": namespace_labels(args)},
                opts=guarded,
            )
            monitoring = ns.metadata.name
            namespace_deps = [ns]
            # Generated (or read from the external store) like every other credential.
            admin = Credentials(
                f"{name}-grafana-admin",
                CredentialArgs(
                    platform=replace(platform, namespace=monitoring),
                    component="grafana",
                    secret_name=names.grafana_admin_secret,
                    generated=("admin-password",),
                    fixed={"admin-user": "admin"},
                ),
                pulumi.ResourceOptions(parent=self, depends_on=[ns]),
            )

            def release(
                logical: str,
                chart: str,
                release_name: str,
                values: Mapping[str, Any],
                after: Sequence[pulumi.Resource] = (),
            ) -> k8s.helm.v3.Release:
                pin = args.charts[chart]
                created = k8s.helm.v3.Release(
                    f"{name}-{logical}",
                    name=release_name,
                    chart=chart,
                    version=pin.version,
                    repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=pin.repo),
                    namespace=monitoring,
                    create_namespace=False,
                    values=dict(values),
                    timeout=900,
                    max_history=10,
                    opts=pulumi.ResourceOptions(parent=self, depends_on=[ns, *after]),
                )
                self.releases[logical] = created
                return created

            stack = release(
                "kube-prometheus-stack",
                "kube-prometheus-stack",
                names.stack,
                kube_prometheus_stack_values(args),
                [admin],
            )
            crd_source = [stack]
            collector = "opentelemetry-collector"
            release("otel-collector", collector, names.collector, collector_values(args))
            store: list[pulumi.Resource] = []
            if args.logs.backend == "loki":
                store = [release("loki", "loki", names.loki, loki_values(args))]
            if args.logs.backend != "none":
                release("otel-agent", collector, names.agent, agent_values(args), store)
            if args.metrics_adapter is not None:
                release(
                    "metrics-adapter",
                    "prometheus-adapter",
                    names.metrics_adapter,
                    metrics_adapter_values(args),
                    [stack],
                )
            collector_selector = {
                "app.kubernetes.io/name": "opentelemetry-collector",
                "app.kubernetes.io/instance": names.collector,
            }
            targets += [
                ScrapeTarget(
                    component="otel-collector",
                    selector=collector_selector,
                    port="prom-exporter",
                    kind="service",
                    namespace=monitoring,
                    name=f"{names.collector}-exported",
                    honor_labels=True,
                ),
                ScrapeTarget(
                    component="otel-collector",
                    selector=collector_selector,
                    port="metrics",
                    kind="service",
                    namespace=monitoring,
                    name=names.collector,
                ),
            ]
            self.grafana_service = names.grafana
            self.grafana_admin_secret = names.grafana_admin_secret
            self.prometheus_service = names.prometheus_service
            self.alertmanager_service = names.alertmanager_service

        # Custom resources wait for the release that installs their CRDs.
        cr_opts = pulumi.ResourceOptions(parent=self, depends_on=crd_source)
        interval = args.prometheus.scrape_interval
        self.monitors: list[str] = []
        for target in targets:
            object_name = target.name or platform.name(target.component)
            metadata = platform.metadata(target.component, name=object_name, tier=TIER)
            metadata["labels"] = {**metadata["labels"], **labels}
            metadata["namespace"] = (
                target.namespace if target.namespace is not None else platform.namespace
            )
            kube(
                k8s.apiextensions.CustomResource,
                f"{name}-{target.monitor_kind.lower()}-{object_name}",
                api_version=MONITORING_API,
                kind=target.monitor_kind,
                metadata=metadata,
                spec=monitor_spec(target, interval),
                opts=cr_opts,
            )
            self.monitors.append(f"{target.monitor_kind}/{object_name}")

        rules_meta = platform.metadata("alerts", tier=TIER)
        rules_meta["labels"] = {**rules_meta["labels"], **labels}
        kube(
            k8s.apiextensions.CustomResource,
            f"{name}-alerts",
            api_version=MONITORING_API,
            kind="PrometheusRule",
            metadata=rules_meta,
            spec=pulumi.Output.from_input(platform.namespace).apply(
                lambda ns: {
                    "groups": alert_groups(
                        rules_text,
                        args.alerts,
                        namespace=ns,
                        release=platform.release,
                        kv_bucket=args.kv_bucket,
                    )
                }
            ),
            opts=cr_opts,
        )

        dashboard_opts = pulumi.ResourceOptions(parent=self, depends_on=namespace_deps)
        self.dashboards: list[str] = []
        for dashboard in dashboards:
            object_name = platform.name(f"dashboard-{dashboard.stem}")
            kube(
                k8s.core.v1.ConfigMap,
                f"{name}-dashboard-{dashboard.stem}",
                metadata={
                    "name": object_name,
                    "namespace": monitoring,
                    "labels": {
                        **platform.labels(f"dashboard-{dashboard.stem}", TIER),
                        DASHBOARD_LABEL[0]: DASHBOARD_LABEL[1],
                    },
                    "annotations": {DASHBOARD_FOLDER_ANNOTATION: DASHBOARD_FOLDER},
                },
                data={f"{dashboard.stem}.json": dashboard.text},
                opts=dashboard_opts,
            )
            self.dashboards.append(object_name)

        if platform.otlp_endpoint is not None:
            kube(
                k8s.networking.v1.NetworkPolicy,
                f"{name}-otlp-egress",
                metadata=platform.metadata("otlp-egress", tier=TIER),
                spec=otlp_egress_spec(args.namespace),
                opts=pulumi.ResourceOptions(parent=self),
            )

        self.register_outputs(
            {
                "namespace": monitoring,
                "otlpEndpoint": platform.otlp_endpoint,
                "monitors": self.monitors,
                "dashboards": self.dashboards,
                "grafanaService": self.grafana_service,
                "grafanaAdminSecret": self.grafana_admin_secret,
                "prometheusService": self.prometheus_service,
                "alertmanagerService": self.alertmanager_service,
            }
        )
