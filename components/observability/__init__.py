"""The observability tier: kube-prometheus-stack (Prometheus, Alertmanager, Grafana, the operator,
kube-state-metrics), the OpenTelemetry collector, logs (Loki or an external endpoint), and the
platform's own monitors, alert rules and dashboards (seeds 001, 003, 004).

One package, one part per module:
- `args`: the typed args, release names and monitor labels;
- `targets`: a monitor (PodMonitor, ServiceMonitor) per scrape target the tiers hand on;
- `stack_values`, `pipeline_values`: the charts' values (kube-prometheus-stack and the metrics
  adapter; the OpenTelemetry collector, the log agent and Loki);
- `rules`: alert rules and dashboards, which are data beside the code (`alerts.yaml`,
  `alertmanager.yaml`, `metrics-adapter.yaml`, `dashboards/*.json`);
- `component`: the `Observability` ComponentResource.
"""

from components.observability.args import (
    ALERTS_FILE,
    DASHBOARDS_DIR,
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
    collector_endpoint,
    load_adapter_rules,
)
from components.observability.component import Observability
from components.observability.rules import alert_groups, load_dashboards

__all__ = [
    "ALERTS_FILE",
    "DASHBOARDS_DIR",
    "AlertThresholds",
    "ChartPin",
    "CollectorSpec",
    "LogsSpec",
    "MetricsAdapterSpec",
    "Observability",
    "ObservabilityArgs",
    "PrometheusSpec",
    "Receiver",
    "StackSizing",
    "TraceExport",
    "alert_groups",
    "collector_endpoint",
    "load_adapter_rules",
    "load_dashboards",
]
