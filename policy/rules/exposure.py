"""Exposure: no Service is of type NodePort."""

from __future__ import annotations

from .model import Resource, Rule, Settings, Violation, dig


def check_no_nodeport(resource: Resource, _: Settings) -> list[Violation]:
    if not resource.is_("core", "Service") or resource.third_party:
        return []
    if dig(resource.props, "spec", "type") == "NodePort":
        return [NO_NODEPORT.violation(resource, "is of type NodePort")]
    return []


NO_NODEPORT = Rule(
    "no-nodeport-services",
    "No Service is of type NodePort.",
    "use ClusterIP (kubectl port-forward on kind) or LoadBalancer, or publish through the "
    "ingress / mesh gateway",
    mandatory=True,
    resource_check=check_no_nodeport,
)
