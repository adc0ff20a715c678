"""NetworkPolicy manifests: namespace-wide default deny, DNS egress, and per-workload rules
derived from the dependency graph."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from components.graph import DependencyGraph, ServicePort

Manifest = dict[str, Any]

# Private ranges stay closed for workloads that may reach the internet (calendar feeds).
PRIVATE_RANGES = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16")


@dataclass(frozen=True)
class Peer:
    """Pods matching `selector` (in `namespace`, or the workload's own when None) on `ports`."""

    selector: Mapping[str, str]
    ports: tuple[ServicePort, ...]
    namespace: str | None = None


@dataclass(frozen=True)
class NetworkAccess:
    """Who may reach a workload, and what it may reach, beyond the namespace defaults."""

    ingress: tuple[Peer, ...] = ()
    egress: tuple[Peer, ...] = ()
    # Ports the workload's own replicas use among themselves (cluster routes, gossip).
    peer_ports: tuple[ServicePort, ...] = ()
    # Ports open to addresses outside the cluster (public internet only).
    external_egress_ports: tuple[int, ...] = ()


def access_from_graph(
    graph: DependencyGraph,
    name: str,
    *,
    scrape_ports: tuple[ServicePort, ...] = (),
    monitoring_namespace: str | None = None,
    public_entry: Peer | None = None,
    peer_ports: tuple[ServicePort, ...] = (),
) -> NetworkAccess:
    """Ingress from declared callers only, egress to declared callees only."""
    node = graph[name]
    ingress = [Peer(caller.selector, node.ports) for caller in graph.callers(name)]
    if node.public and public_entry is not None:
        ingress.append(Peer(public_entry.selector, node.ports, public_entry.namespace))
    if scrape_ports and monitoring_namespace:
        ingress.append(Peer({}, scrape_ports, monitoring_namespace))
    egress = [Peer(callee.selector, callee.ports) for callee in graph.callees(name)]
    return NetworkAccess(
        ingress=tuple(ingress),
        egress=tuple(egress),
        peer_ports=peer_ports,
        external_egress_ports=(443, 80) if node.external_egress else (),
    )


def _ports(ports: Sequence[ServicePort]) -> list[Manifest]:
    return [{"protocol": p.protocol, "port": p.port} for p in ports]


def _peer(peer: Peer) -> Manifest:
    selector: Manifest = {"podSelector": {"matchLabels": dict(peer.selector)}}
    if peer.namespace is not None:
        selector["namespaceSelector"] = {
            "matchLabels": {"kubernetes.io/metadata.name": peer.namespace}
        }
    return selector


def workload_policy_spec(selector: Mapping[str, str], access: NetworkAccess) -> Manifest:
    """Spec of the per-workload NetworkPolicy (layered on the namespace's default deny)."""
    ingress = [{"from": [_peer(p)], "ports": _ports(p.ports)} for p in access.ingress]
    egress = [{"to": [_peer(p)], "ports": _ports(p.ports)} for p in access.egress]
    if access.peer_ports:
        own = Peer(selector, access.peer_ports)
        ingress.append({"from": [_peer(own)], "ports": _ports(own.ports)})
        egress.append({"to": [_peer(own)], "ports": _ports(own.ports)})
    if access.external_egress_ports:
        egress.append(
            {
                "to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": list(PRIVATE_RANGES)}}],
                "ports": [{"protocol": "TCP", "port": p} for p in access.external_egress_ports],
            }
        )
    return {
        "podSelector": {"matchLabels": dict(selector)},
        "policyTypes": ["Ingress", "Egress"],
        "ingress": ingress,
        "egress": egress,
    }


def default_deny_spec() -> Manifest:
    """Every pod of the namespace: nothing in, nothing out, until a policy allows it."""
    return {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}


def namespace_traffic_spec(
    direction: Literal["Ingress", "Egress"],
    namespace: str,
    ports: Sequence[ServicePort],
    pods: Mapping[str, str] | None = None,
) -> Manifest:
    """Every pod of the platform may reach (Egress) or be reached from (Ingress) the pods of
    another namespace (all of them, or those labelled `pods`) on `ports`."""
    peer: Manifest = {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}}
    }
    if pods:
        peer["podSelector"] = {"matchLabels": dict(pods)}
    side = "to" if direction == "Egress" else "from"
    return {
        "podSelector": {},
        "policyTypes": [direction],
        direction.lower(): [{side: [peer], "ports": _ports(ports)}],
    }


def dns_egress_spec() -> Manifest:
    """Every pod may resolve names through the cluster DNS."""
    dns = (ServicePort("dns", 53, "UDP"), ServicePort("dns-tcp", 53))
    return namespace_traffic_spec("Egress", "kube-system", dns, {"k8s-app": "kube-dns"})
