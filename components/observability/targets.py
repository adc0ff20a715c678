"""Monitor objects for scrape targets: a PodMonitor or ServiceMonitor spec per target. The targets
themselves come from the tiers (components/scrape.py)."""

from __future__ import annotations

from components.scrape import ScrapeTarget
from components.workload import Manifest


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
