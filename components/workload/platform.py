"""The stack as every tier sees it (`Platform`): naming, labels, metadata, graph nodes and the
network rules the graph implies; `Manifest` is the type of every built object."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi

from components.graph import DependencyGraph, Node, ServicePort
from components.naming import fullname, recommended_labels, selector_labels
from components.network import NetworkAccess, Peer, access_from_graph

Manifest = dict[str, Any]


@dataclass(frozen=True)
class Platform:
    """What every tier needs to know about the stack, without knowing which stack it is."""

    release: str
    namespace: pulumi.Input[str]
    version: str
    image_pull_policy: str = "IfNotPresent"
    spread_across_nodes: bool = False
    protect_data: bool = False
    monitoring_namespace: str | None = None
    # OTLP collector every workload reports traces and metrics to (None: tracing off).
    otlp_endpoint: str | None = None
    # Where public traffic enters (mesh ingress gateway or ingress controller pods).
    public_entry: Peer | None = None
    # Components kept out of the service mesh (component name, or its prefix before `-<n>`);
    # stacks.graph.mesh_opt_out resolves `mesh.optOut`'s graph names to them.
    mesh_opt_out: tuple[str, ...] = ()
    # Whether the namespace is in the service mesh: announced app ports are then scraped through
    # the sidecar's merged-metrics port (components/scrape.py).
    mesh: bool = False
    # ClusterSecretStore credentials come from (External Secrets); None: generated here.
    secret_store: str | None = None

    def name(self, component: str) -> str:
        return fullname(self.release, component)

    def node(
        self,
        component: str,
        ports: tuple[ServicePort, ...] = (),
        *,
        name: str | None = None,
        **fields: Any,
    ) -> Node:
        """`component`'s graph node: its Service name, pod selector and service account, as the
        Workload creates them (no ports: a caller only, such as a Job)."""
        return Node(
            name=name or component,
            host=self.name(component),
            ports=ports,
            selector=self.selector(component),
            service_account=self.name(component),
            component=component,
            **fields,
        )

    def out_of_mesh(self, component: str) -> bool:
        """Whether the Kubernetes component (a Node's `component`, never its graph name) is kept
        out of the mesh."""
        return any(component == c or component.startswith(f"{c}-") for c in self.mesh_opt_out)

    def access(
        self,
        graph: DependencyGraph,
        component: str,
        *,
        scrape_ports: tuple[ServicePort, ...] = (),
        peer_ports: tuple[ServicePort, ...] = (),
    ) -> NetworkAccess:
        """The graph's network rules for `component`, with this platform's scrape and entry."""
        return access_from_graph(
            graph,
            component,
            scrape_ports=scrape_ports,
            monitoring_namespace=self.monitoring_namespace,
            public_entry=self.public_entry,
            peer_ports=peer_ports,
        )

    def labels(self, component: str, tier: str | None = None) -> dict[str, str]:
        return recommended_labels(self.release, component, self.version, tier)

    def selector(self, component: str) -> dict[str, str]:
        return selector_labels(self.release, component)

    def metadata(
        self, component: str, name: str | None = None, tier: str | None = None, **extra: Any
    ) -> Manifest:
        """Object metadata with an explicit name (no auto-naming) and the recommended labels."""
        meta: Manifest = {
            "name": name or self.name(component),
            "namespace": self.namespace,
            "labels": self.labels(component, tier),
        }
        meta.update(extra)
        return meta
