"""Settings of the `observability` key: Prometheus, Alertmanager, Grafana, the OpenTelemetry
collector, logs and alert thresholds (seeds 001, 003, 004)."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, ValidationInfo, field_validator

from components.observability import (
    AlertThresholds,
    ChartPin,
    CollectorSpec,
    LogsSpec,
    MetricsAdapterSpec,
    ObservabilityArgs,
    PrometheusSpec,
    Receiver,
    StackSizing,
    TraceExport,
)
from components.scrape import ScrapeTarget
from components.workload import Platform
from stacks.settings.types import (
    ByteQuantity,
    DnsLabel,
    Model,
    NamespaceName,
    ResourceSettings,
    positive,
)
from stacks.versions import CHARTS, IMAGES, OTEL_COLLECTOR_IMAGE

# Prometheus' own duration syntax (one unit), e.g. 30s, 1d, 14d, 2w.
_DURATION = re.compile(r"^[0-9]+(ms|s|m|h|d|w|y)$")
_CHART_VERSION = re.compile(r"^\d+\.\d+\.\d+$")
_ENDPOINT = re.compile(r"^(https?://)?[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[^\s]*)?$")


def _duration(value: str) -> str:
    if not _DURATION.match(value):
        raise ValueError(
            "must be a Prometheus duration: an integer and one unit of ms, s, m, h, d, w or y "
            "(e.g. 30s, 1d, 14d)"
        )
    return value


def _chart_version(value: str) -> str:
    if not _CHART_VERSION.match(value):
        raise ValueError(
            "must be an exact chart version MAJOR.MINOR.PATCH such as 88.5.3 "
            "(no ranges, no 'v' prefix, no 'latest')"
        )
    return value


def _ratio(value: float) -> float:
    if not 0 < value < 1:
        raise ValueError("must be a ratio between 0 and 1 (exclusive), e.g. 0.05 for 5%")
    return value


def _availability(value: float) -> float:
    if not 0.95 <= value < 1:
        raise ValueError(
            "must be an availability from 0.95 up to 1 (exclusive), e.g. 0.999 for 99.9%: "
            "below 0.95 the fast burn rate (14.4x the error budget) exceeds every error ratio"
        )
    return value


def _positive_seconds(value: float) -> float:
    if not value > 0:
        raise ValueError("must be a positive number of seconds, e.g. 0.5")
    return value


def _percent(value: int) -> int:
    if not 1 <= value <= 99:
        raise ValueError("must be a percentage between 1 and 99")
    return value


def _endpoint(value: str | None) -> str | None:
    if value is not None and not _ENDPOINT.match(value):
        raise ValueError("must be host:port or an http(s) URL, e.g. tempo.tracing:4317")
    return value


def _receiver_name(value: str) -> str:
    if not re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", value) or value == "null":
        raise ValueError(
            "must be lower-case letters, digits and '-' (e.g. oncall-pagerduty), not 'null' "
            "(the built-in receiver of unrouted alerts)"
        )
    return value


def _secret_key(value: str) -> str:
    if not re.fullmatch(r"[-._a-zA-Z0-9]+", value):
        raise ValueError("must be a Secret data key: letters, digits, '-', '_' or '.'")
    return value


Duration = Annotated[str, AfterValidator(_duration)]
ChartVersion = Annotated[str, AfterValidator(_chart_version)]
Endpoint = Annotated[str | None, AfterValidator(_endpoint)]


class ChartVersions(Model):
    """Exact chart versions; defaults are the pins in stacks/versions.py."""

    kube_prometheus_stack: ChartVersion = CHARTS["kube-prometheus-stack"]["version"]
    opentelemetry_collector: ChartVersion = CHARTS["opentelemetry-collector"]["version"]
    loki: ChartVersion = CHARTS["loki"]["version"]
    prometheus_adapter: ChartVersion = CHARTS["prometheus-adapter"]["version"]


class PrometheusSettings(Model):
    replicas: Annotated[int, positive()] = 1
    resources: ResourceSettings
    # None: an emptyDir (local); production keeps the TSDB on a volume.
    storage_size: ByteQuantity | None = None
    storage_class: str | None = None
    scrape_interval: Duration = "30s"

    def build(self, retention: str) -> PrometheusSpec:
        return PrometheusSpec(
            retention=retention,
            resources=self.resources.build(),
            replicas=self.replicas,
            storage_size=self.storage_size,
            storage_class=self.storage_class,
            scrape_interval=self.scrape_interval,
        )


_RECEIVER_KEYS = {"webhook": "url", "slack": "url", "pagerduty": "routing-key"}


class ReceiverSettings(Model):
    """One Alertmanager receiver. Its credential (the webhook URL, the Slack incoming-webhook URL,
    the PagerDuty Events v2 routing key) is the key `key` of the Secret `secret` in the
    monitoring namespace; Alertmanager reads it from the mounted file."""

    name: Annotated[str, AfterValidator(_receiver_name)]
    type: Literal["webhook", "slack", "pagerduty"]
    secret: DnsLabel
    # None: `url` (webhook, slack) or `routing-key` (pagerduty).
    key: Annotated[str, AfterValidator(_secret_key)] | None = None
    # The alerts' severities it is notified of.
    severities: Annotated[list[Literal["critical", "warning", "info"]], Field(min_length=1)]
    # Slack only: the channel, e.g. "#trading-alerts" (None: the webhook's own channel).
    channel: str | None = None

    @field_validator("channel")
    @classmethod
    def _slack_only(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and info.data.get("type") != "slack":
            raise ValueError(f"is only used by type 'slack', not {info.data.get('type')!r}")
        return value

    @property
    def secret_key(self) -> str:
        return self.key or _RECEIVER_KEYS[self.type]

    def build(self) -> Receiver:
        return Receiver(
            name=self.name,
            type=self.type,
            secret=self.secret,
            key=self.secret_key,
            severities=tuple(self.severities),
            channel=self.channel,
        )


class AlertmanagerSettings(Model):
    replicas: Annotated[int, positive()] = 1
    resources: ResourceSettings
    retention: Duration = "120h"
    # Notification receivers, routed by severity (docs/observability.md); none: the UI only.
    receivers: list[ReceiverSettings] = []

    @field_validator("receivers")
    @classmethod
    def _unique(cls, value: list[ReceiverSettings]) -> list[ReceiverSettings]:
        names = [r.name for r in value]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"receiver names must be unique; {', '.join(twice)} is repeated")
        return value


class GrafanaSettings(Model):
    resources: ResourceSettings
    # The dashboard and datasource sidecars (k8s-sidecar).
    sidecar_resources: ResourceSettings


class OperatorSettings(Model):
    resources: ResourceSettings
    # prometheus-config-reloader, injected next to Prometheus and Alertmanager.
    reloader_resources: ResourceSettings
    # The admission webhook certificate Job and the CRD upgrade Job.
    webhook_job_resources: ResourceSettings
    # Run the chart's CRD upgrade Job before every install, upgrade and rollback: Helm never
    # upgrades CRDs itself, so a moved pin would leave the old CRDs under a newer operator.
    crd_upgrade_job: bool = True


class NodeExporterSettings(Model):
    # kind cannot run it (host mounts with rslave propagation); production nodes can.
    enabled: bool
    resources: ResourceSettings


class CollectorSettings(Model):
    """The OpenTelemetry collector gateway (deployment mode)."""

    replicas: Annotated[int, positive()] = 1
    resources: ResourceSettings
    # Where workloads send OTLP. None: the installed collector (install: true), or no OTLP
    # environment at all (install: false).
    endpoint: Endpoint = None


class TracesSettings(Model):
    """Where the collector sends traces: an OTLP/gRPC backend (Tempo, Jaeger, ...), or `debug`
    (the collector's own log) where no backend runs."""

    exporter: Literal["otlp", "debug"]
    endpoint: Annotated[Endpoint, Field(validate_default=True)] = None
    insecure: bool = True

    @field_validator("endpoint")
    @classmethod
    def _required_for_otlp(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None and info.data.get("exporter") == "otlp":
            raise ValueError(
                "is required when traces.exporter is 'otlp': the backend's OTLP/gRPC "
                "host:port, e.g. tempo-distributor.tracing:4317"
            )
        return value


class LokiSettings(Model):
    resources: ResourceSettings
    storage_size: ByteQuantity


class LogsSettings(Model):
    """Container logs: collected on every node by an OpenTelemetry agent (daemonset) and sent to
    Loki (installed, local) or to an OTLP / Elasticsearch endpoint (production, seed 004's ELK)."""

    backend: Literal["loki", "otlp", "elasticsearch", "none"]
    endpoint: Annotated[Endpoint, Field(validate_default=True)] = None
    # Secret in the monitoring namespace with keys `username` and `password`: HTTP basic auth of
    # the collector and the log agent (and Grafana's datasource) to Elasticsearch.
    credentials_secret: DnsLabel | None = None
    # Secret in the monitoring namespace holding the CA that signed the endpoint's certificate
    # (ECK: a copy of `<cluster>-es-http-certs-public`); None: the image's system CAs.
    ca_secret: DnsLabel | None = None
    # The CA's key in caSecret.
    ca_key: Annotated[str, AfterValidator(_secret_key)] = "ca.crt"
    # How long the program's own Loki keeps logs (seed 004: 30 days). An external backend
    # (Elasticsearch, OTLP) keeps its own: set its lifecycle policy there (docs/observability.md).
    retention: Duration
    agent_resources: ResourceSettings
    loki: Annotated[LokiSettings | None, Field(validate_default=True)] = None

    @field_validator("endpoint")
    @classmethod
    def _required_for_external(cls, value: str | None, info: ValidationInfo) -> str | None:
        backend = info.data.get("backend")
        if value is None and backend in ("otlp", "elasticsearch"):
            raise ValueError(f"is required when logs.backend is '{backend}'")
        return value

    @field_validator("credentials_secret")
    @classmethod
    def _credentials_for_elasticsearch(cls, value: str | None, info: ValidationInfo) -> str | None:
        backend = info.data.get("backend")
        if value is not None and backend != "elasticsearch":
            raise ValueError(
                f"is only used with logs.backend 'elasticsearch' (basic auth), not '{backend}': "
                "remove it"
            )
        return value

    @field_validator("ca_secret")
    @classmethod
    def _ca_for_tls(cls, value: str | None, info: ValidationInfo) -> str | None:
        endpoint = info.data.get("endpoint") or ""
        if value is not None and not (
            info.data.get("backend") in ("elasticsearch", "otlp")
            and endpoint.startswith("https://")
        ):
            raise ValueError(
                "verifies TLS, so it needs logs.backend 'elasticsearch' or 'otlp' with an "
                f"https:// endpoint (endpoint is {endpoint or 'unset'!r})"
            )
        return value

    @field_validator("loki")
    @classmethod
    def _loki_sized(cls, value: LokiSettings | None, info: ValidationInfo) -> LokiSettings | None:
        if value is None and info.data.get("backend") == "loki":
            raise ValueError("is required when logs.backend is 'loki' (its resources and volume)")
        return value

    def build(self) -> LogsSpec:
        return LogsSpec(
            backend=self.backend,
            retention=self.retention,
            agent_resources=self.agent_resources.build(),
            endpoint=self.endpoint,
            credentials_secret=self.credentials_secret,
            ca_secret=self.ca_secret,
            ca_key=self.ca_key,
            loki_resources=self.loki.resources.build() if self.loki else None,
            loki_storage_size=self.loki.storage_size if self.loki else None,
        )


class MetricsAdapterSettings(Model):
    """prometheus-adapter (chart pinned in stacks/versions.py), installed with the charts when an
    autoscaler uses a custom or external metric; its rules are
    components/observability/metrics-adapter.yaml.
    Set enabled: false where another adapter (KEDA, a cluster-wide prometheus-adapter) already
    serves custom.metrics.k8s.io / external.metrics.k8s.io."""

    enabled: bool = True
    replicas: Annotated[int, positive()] = 1
    resources: ResourceSettings
    # The API server verifies the adapter's serving certificate (a cert-manager CA injected into
    # its APIServices). False: the chart's APIServices skip TLS verification.
    cert_manager: bool = False

    def build(
        self, autoscaler_metrics: dict[str, list[tuple[str, str]]]
    ) -> MetricsAdapterSpec | None:
        """The adapter, when it is enabled and an autoscaler uses a custom or external metric
        (the settings already checked that a rule serves each)."""
        custom = sorted({metric for _, metric in autoscaler_metrics["custom"]})
        external = sorted({metric for _, metric in autoscaler_metrics["external"]})
        if not self.enabled or not (custom or external):
            return None
        return MetricsAdapterSpec(
            resources=self.resources.build(),
            custom=tuple(custom),
            external=tuple(external),
            replicas=self.replicas,
            cert_manager=self.cert_manager,
        )


class AlertSettings(Model):
    """Alert thresholds; the rules themselves are data (components/observability/alerts.yaml)."""

    error_rate: Annotated[float, AfterValidator(_ratio)]
    # Availability SLO of the HTTP services (non-5xx share of requests): its error budget
    # drives the burn-rate alerts (seed 001's SLO violation notifications).
    slo_availability: Annotated[float, AfterValidator(_availability)] = 0.999
    p99_latency_seconds: Annotated[float, AfterValidator(_positive_seconds)]
    restarts_per_hour: Annotated[int, positive()] = 3
    volume_full_percent: Annotated[int, AfterValidator(_percent)] = 85
    redis_memory_percent: Annotated[int, AfterValidator(_percent)] = 90
    # TLS certificate alerts need cert-manager's metrics.
    cert_manager: bool
    cert_expiry_days: Annotated[int, positive("days")] = 14

    def build(self) -> AlertThresholds:
        return AlertThresholds(
            error_rate=self.error_rate,
            p99_latency_seconds=self.p99_latency_seconds,
            restarts_per_hour=self.restarts_per_hour,
            volume_full_ratio=self.volume_full_percent / 100,
            redis_memory_ratio=self.redis_memory_percent / 100,
            cert_manager=self.cert_manager,
            cert_expiry_days=self.cert_expiry_days,
            slo_availability=self.slo_availability,
        )


class ObservabilitySettings(Model):
    enabled: bool
    # false: the cluster already runs Prometheus, Grafana and a collector; only the platform's
    # ServiceMonitors/PodMonitors, rules and dashboards are declared.
    install: bool
    namespace: NamespaceName
    charts: ChartVersions = ChartVersions()
    # Prometheus TSDB retention (seed 004: 14 days of monitoring data in production).
    retention: Duration
    # Labels the cluster's Prometheus selects monitors and rules by. None: `release: <the
    # installed kube-prometheus-stack release>`, the chart's own default selector.
    monitor_labels: dict[str, str] | None = None
    # Scrape etcd, scheduler, controller-manager and kube-proxy (they listen on localhost on kind).
    control_plane: bool
    prometheus: PrometheusSettings
    alertmanager: AlertmanagerSettings
    grafana: GrafanaSettings
    operator: OperatorSettings
    kube_state_metrics_resources: ResourceSettings
    node_exporter: NodeExporterSettings
    collector: CollectorSettings
    metrics_adapter: MetricsAdapterSettings
    traces: TracesSettings
    logs: LogsSettings
    alerts: AlertSettings

    def build(
        self,
        platform: Platform,
        scrape_targets: tuple[ScrapeTarget, ...],
        kv_bucket: str | None,
        autoscaler_metrics: dict[str, list[tuple[str, str]]],
    ) -> ObservabilityArgs:
        """`autoscaler_metrics`: the custom and external metrics the stack's autoscalers use
        (PlatformSettings.autoscaler_metrics), which the metrics adapter must serve."""
        versions = {
            "kube-prometheus-stack": self.charts.kube_prometheus_stack,
            "opentelemetry-collector": self.charts.opentelemetry_collector,
            "loki": self.charts.loki,
            "prometheus-adapter": self.charts.prometheus_adapter,
        }
        return ObservabilityArgs(
            platform=platform,
            install=self.install,
            namespace=self.namespace,
            charts={chart: ChartPin(CHARTS[chart]["repo"], v) for chart, v in versions.items()},
            prometheus=self.prometheus.build(self.retention),
            stack=self.stack_sizing(),
            collector=CollectorSpec(
                resources=self.collector.resources.build(),
                image_repository=OTEL_COLLECTOR_IMAGE,
                replicas=self.collector.replicas,
            ),
            traces=TraceExport(
                exporter=self.traces.exporter,
                endpoint=self.traces.endpoint,
                insecure=self.traces.insecure,
            ),
            logs=self.logs.build(),
            alerts=self.alerts.build(),
            metrics_adapter=self.metrics_adapter.build(autoscaler_metrics),
            scrape_targets=scrape_targets,
            monitor_labels=self.monitor_labels,
            kv_bucket=kv_bucket,
        )

    def stack_sizing(self) -> StackSizing:
        """kube-prometheus-stack's pods and switches."""
        operator = self.operator
        return StackSizing(
            alertmanager_resources=self.alertmanager.resources.build(),
            alertmanager_replicas=self.alertmanager.replicas,
            alertmanager_retention=self.alertmanager.retention,
            receivers=tuple(r.build() for r in self.alertmanager.receivers),
            grafana_resources=self.grafana.resources.build(),
            grafana_sidecar_resources=self.grafana.sidecar_resources.build(),
            operator_resources=operator.resources.build(),
            reloader_resources=operator.reloader_resources.build(),
            webhook_job_resources=operator.webhook_job_resources.build(),
            kube_state_metrics_resources=self.kube_state_metrics_resources.build(),
            node_exporter=self.node_exporter.enabled,
            node_exporter_resources=self.node_exporter.resources.build(),
            control_plane=self.control_plane,
            crd_upgrade_job=operator.crd_upgrade_job,
            busybox_tag=IMAGES["busybox"].rsplit(":", 1)[1],
        )
