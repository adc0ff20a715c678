"""Composition of the observability tier: the OTLP endpoint every workload reports to, the scrape
targets derived from the workloads the other tiers declare, and the tier (its settings build its
args, `ObservabilitySettings.build`).

Contract with the other tiers: a container port named `metrics` (exporter sidecars, dedicated
metrics ports), or the pod annotations `prometheus.io/scrape: "true"` + `prometheus.io/port`
(+ `prometheus.io/path`), is scraped by a PodMonitor. Nothing else is needed: `watch_workloads`
sees every Deployment/StatefulSet/DaemonSet declared after it is called.
"""

from __future__ import annotations

import pulumi

from components.observability import Observability, WorkloadMetrics, collector_endpoint
from components.workload import Platform
from stacks.settings import PlatformSettings


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
    args = settings.observability.build(
        platform, metrics.targets, kv_bucket, settings.autoscaler_metrics()
    )
    tier = Observability("observability", args, opts)
    pulumi.export("monitoringNamespace", settings.observability.namespace)
    pulumi.export("otlpEndpoint", platform.otlp_endpoint)
    pulumi.export("grafanaService", tier.grafana_service)
    pulumi.export("grafanaAdminSecret", tier.grafana_admin_secret)
    pulumi.export("prometheusService", tier.prometheus_service)
    pulumi.export("grafanaDashboards", tier.dashboards)
    return tier
