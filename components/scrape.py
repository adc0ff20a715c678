"""What a workload offers Prometheus: the scrape targets the Workload building block derives from
its own pod template (a container port named `metrics`, or the `prometheus.io/*` pod
annotations). Each tier hands its workloads' targets on as an output (`scrape_targets`), and the
observability tier turns them into PodMonitors."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

import pulumi

METRICS_PORT = "metrics"


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
