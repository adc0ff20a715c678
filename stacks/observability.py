"""Composition of the observability tier: settings -> `ObservabilityArgs`, the OTLP endpoint every
workload reports to, and the scrape targets derived from the workloads the other tiers declare.

Contract with the other tiers: a container port named `metrics` (exporter sidecars, dedicated
metrics ports), or the pod annotations `prometheus.io/scrape: "true"` + `prometheus.io/port`
(+ `prometheus.io/path`), is scraped by a PodMonitor. Nothing else is needed: `watch_workloads`
sees every Deployment/StatefulSet/DaemonSet declared after it is called.
"""

from __future__ import annotations

import pulumi

from components.observability import (
    AlertThresholds,
    ChartPin,
    CollectorSpec,
    LogsSpec,
    MetricsAdapterSpec,
    Observability,
    ObservabilityArgs,
    PrometheusSpec,
    Receiver,
    StackSizing,
    TraceExport,
    WorkloadMetrics,
    collector_endpoint,
)
from components.workload import Platform
from stacks.settings import PlatformSettings
from stacks.versions import CHARTS, IMAGES, OTEL_COLLECTOR_IMAGE


def otlp_endpoint(settings: PlatformSettings) -> str | None:
    """OTEL_EXPORTER_OTLP_ENDPOINT for every workload: configured, else the installed collector."""
    obs = settings.observability
    if not obs.enabled:
        return None
    if obs.collector.endpoint is not None:
        return obs.collector.endpoint
    return collector_endpoint(settings.release, obs.namespace) if obs.install else None


def watch_workloads(settings: PlatformSettings) -> WorkloadMetrics | None:
    """Start collecting scrape targets from the workloads declared from now on."""
    if not settings.observability.enabled:
        return None
    metrics = WorkloadMetrics(mesh=settings.mesh.enabled)
    pulumi.runtime.register_stack_transformation(metrics.observe)
    return metrics


def metrics_adapter(settings: PlatformSettings) -> MetricsAdapterSpec | None:
    """The adapter, when it is enabled and an autoscaler uses a custom or external metric (the
    settings already checked that a rule serves each)."""
    adapter = settings.observability.metrics_adapter
    uses = settings.autoscaler_metrics()
    if not adapter.enabled or not (uses["custom"] or uses["external"]):
        return None
    return MetricsAdapterSpec(
        resources=adapter.resources.build(),
        custom=tuple(sorted({metric for _, metric in uses["custom"]})),
        external=tuple(sorted({metric for _, metric in uses["external"]})),
        replicas=adapter.replicas,
        cert_manager=adapter.cert_manager,
    )


def observability_args(
    settings: PlatformSettings,
    platform: Platform,
    metrics: WorkloadMetrics,
    kv_bucket: str | None,
) -> ObservabilityArgs:
    obs = settings.observability
    versions = {
        "kube-prometheus-stack": obs.charts.kube_prometheus_stack,
        "opentelemetry-collector": obs.charts.opentelemetry_collector,
        "loki": obs.charts.loki,
        "prometheus-adapter": obs.charts.prometheus_adapter,
    }
    logs, alerts = obs.logs, obs.alerts
    return ObservabilityArgs(
        platform=platform,
        install=obs.install,
        namespace=obs.namespace,
        charts={chart: ChartPin(CHARTS[chart]["repo"], v) for chart, v in versions.items()},
        prometheus=PrometheusSpec(
            retention=obs.retention,
            resources=obs.prometheus.resources.build(),
            replicas=obs.prometheus.replicas,
            storage_size=obs.prometheus.storage_size,
            storage_class=obs.prometheus.storage_class,
            scrape_interval=obs.prometheus.scrape_interval,
        ),
        stack=StackSizing(
            alertmanager_resources=obs.alertmanager.resources.build(),
            alertmanager_replicas=obs.alertmanager.replicas,
            alertmanager_retention=obs.alertmanager.retention,
            receivers=tuple(
                Receiver(
                    name=r.name,
                    type=r.type,
                    secret=r.secret,
                    key=r.secret_key,
                    severities=tuple(r.severities),
                    channel=r.channel,
                )
                for r in obs.alertmanager.receivers
            ),
            grafana_resources=obs.grafana.resources.build(),
            grafana_sidecar_resources=obs.grafana.sidecar_resources.build(),
            operator_resources=obs.operator.resources.build(),
            reloader_resources=obs.operator.reloader_resources.build(),
            webhook_job_resources=obs.operator.webhook_job_resources.build(),
            kube_state_metrics_resources=obs.kube_state_metrics_resources.build(),
            node_exporter=obs.node_exporter.enabled,
            node_exporter_resources=obs.node_exporter.resources.build(),
            control_plane=obs.control_plane,
            crd_upgrade_job=obs.operator.crd_upgrade_job,
            busybox_tag=IMAGES["busybox"].rsplit(":", 1)[1],
        ),
        collector=CollectorSpec(
            resources=obs.collector.resources.build(),
            image_repository=OTEL_COLLECTOR_IMAGE,
            replicas=obs.collector.replicas,
        ),
        traces=TraceExport(
            exporter=obs.traces.exporter,
            endpoint=obs.traces.endpoint,
            insecure=obs.traces.insecure,
        ),
        logs=LogsSpec(
            backend=logs.backend,
            retention=logs.retention,
            agent_resources=logs.agent_resources.build(),
            endpoint=logs.endpoint,
            credentials_secret=logs.credentials_secret,
            ca_secret=logs.ca_secret,
            ca_key=logs.ca_key,
            loki_resources=logs.loki.resources.build() if logs.loki else None,
            loki_storage_size=logs.loki.storage_size if logs.loki else None,
        ),
        alerts=AlertThresholds(
            error_rate=alerts.error_rate,
            p99_latency_seconds=alerts.p99_latency_seconds,
            restarts_per_hour=alerts.restarts_per_hour,
            volume_full_ratio=alerts.volume_full_percent / 100,
            redis_memory_ratio=alerts.redis_memory_percent / 100,
            cert_manager=alerts.cert_manager,
            cert_expiry_days=alerts.cert_expiry_days,
            slo_availability=alerts.slo_availability,
        ),
        metrics_adapter=metrics_adapter(settings),
        scrape_targets=metrics.targets,
        monitor_labels=obs.monitor_labels,
        kv_bucket=kv_bucket,
    )


def compose_observability(
    settings: PlatformSettings,
    platform: Platform,
    metrics: WorkloadMetrics | None,
    opts: pulumi.ResourceOptions,
    kv_bucket: str | None = None,
) -> Observability | None:
    """The tier, composed last: it scrapes what the others declared. Exports where to look."""
    if metrics is None:
        return None
    tier = Observability(
        "observability", observability_args(settings, platform, metrics, kv_bucket), opts
    )
    pulumi.export("monitoringNamespace", settings.observability.namespace)
    pulumi.export("otlpEndpoint", platform.otlp_endpoint)
    pulumi.export("grafanaService", tier.grafana_service)
    pulumi.export("grafanaAdminSecret", tier.grafana_admin_secret)
    pulumi.export("prometheusService", tier.prometheus_service)
    pulumi.export("grafanaDashboards", tier.dashboards)
    return tier
