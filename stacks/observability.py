"""Composition of the observability tier: the OTLP endpoint every workload reports to, and the
tier (its settings build its args, `ObservabilitySettings.build`) from the other tiers' scrape
targets.

Contract with the other tiers: a container port named `metrics` (exporter sidecars, dedicated
metrics ports), or the pod annotations `prometheus.io/scrape: "true"` + `prometheus.io/port`
(+ `prometheus.io/path`), is scraped by a PodMonitor. The Workload building block derives the
targets from its pod template (components/scrape.py) and each tier hands its workloads' targets
on as `scrape_targets`.
"""

from __future__ import annotations

import pulumi

from components.observability import Observability, collector_endpoint
from components.scrape import ScrapeTarget
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


def compose_observability(
    settings: PlatformSettings,
    platform: Platform,
    scrape_targets: tuple[ScrapeTarget, ...],
    opts: pulumi.ResourceOptions,
    kv_bucket: str | None = None,
) -> Observability | None:
    """The tier, composed last: it scrapes what the others offer. Exports where to look."""
    if not settings.observability.enabled:
        return None
    args = settings.observability.build(
        platform, scrape_targets, kv_bucket, settings.autoscaler_metrics()
    )
    tier = Observability("observability", args, opts)
    pulumi.export("monitoringNamespace", settings.observability.namespace)
    pulumi.export("otlpEndpoint", platform.otlp_endpoint)
    pulumi.export("grafanaService", tier.grafana_service)
    pulumi.export("grafanaAdminSecret", tier.grafana_admin_secret)
    pulumi.export("prometheusService", tier.prometheus_service)
    pulumi.export("grafanaDashboards", tier.dashboards)
    return tier
