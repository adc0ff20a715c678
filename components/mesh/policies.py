"""Who may call whom, from the dependency graph: one ALLOW rule per declared call (and the gateway
for public routes) on top of the namespace's allow-nothing policy; seed 001's circuit breaker on
every service; how the namespace is enrolled and how NetworkPolicies see the gateway."""

from __future__ import annotations

from components.graph import Node
from components.mesh.args import MeshArgs
from components.network import Peer
from components.workload import Manifest

GATEWAY_RELEASE = "istio-ingressgateway"
# The gateway chart labels its pods `istio: <release name without "istio-">`.
GATEWAY_SELECTOR = {"istio": "ingressgateway"}


def gateway_entry(ingress_namespace: str) -> Peer:
    """The ingress gateway pods, as NetworkPolicies see them."""
    return Peer(GATEWAY_SELECTOR, (), ingress_namespace)


def namespace_labels(mode: str) -> dict[str, str]:
    """Enrol the platform namespace: sidecar injection or the ambient data plane."""
    if mode == "ambient":
        return {"istio.io/dataplane-mode": "ambient"}
    return {"istio-injection": "enabled"}


def principal(namespace: str, service_account: str) -> str:
    return f"cluster.local/ns/{namespace}/sa/{service_account}"


def fqdn(node: Node, namespace: str) -> str:
    return f"{node.host}.{namespace}.svc.cluster.local"


def meshed(args: MeshArgs, node: Node) -> bool:
    # By its Kubernetes component, as the Workload decides its pods' sidecar.
    return not args.platform.out_of_mesh(node.component)


def authorization_spec(args: MeshArgs, node: Node) -> Manifest | None:
    """ALLOW exactly the declared callers (and the gateway for public routes); None when the
    service has no caller, so only the namespace's allow-nothing policy applies."""
    ports = [str(p.port) for p in node.ports]
    rules = [
        {
            "from": [{"source": {"principals": [principal(args.namespace, c.service_account)]}}],
            "to": [{"operation": {"ports": ports}}],
        }
        for c in args.graph.callers(node.name)
    ]
    if any(route.service == node.name for route in args.gateway.routes):
        gateway = principal(args.gateway.namespace, GATEWAY_RELEASE)
        rules.append(
            {
                "from": [{"source": {"principals": [gateway]}}],
                "to": [{"operation": {"ports": ports}}],
            }
        )
    if not rules:
        return None
    return {"selector": {"matchLabels": dict(node.selector)}, "action": "ALLOW", "rules": rules}


def destination_rule_spec(args: MeshArgs, node: Node) -> Manifest:
    breaker = args.traffic.circuit_breaker
    return {
        "host": fqdn(node, args.namespace),
        "trafficPolicy": {
            "connectionPool": {
                "tcp": {"maxConnections": breaker.max_connections},
                "http": {
                    "http1MaxPendingRequests": breaker.http1_max_pending_requests,
                    "http2MaxRequests": breaker.http2_max_requests,
                    "maxRequestsPerConnection": breaker.max_requests_per_connection,
                },
            },
            "outlierDetection": {
                "consecutive5xxErrors": breaker.consecutive_5xx_errors,
                "interval": breaker.interval,
                "baseEjectionTime": breaker.base_ejection_time,
                "maxEjectionPercent": breaker.max_ejection_percent,
            },
        },
    }
