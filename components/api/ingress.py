"""The optional Ingress (seed 001): the API host to the balancer and the UI host to the UI's
Service, TLS from a cert-manager issuer, ingress-nginx rate limits and response headers."""

from __future__ import annotations

from typing import Any

import pulumi

from components.api.args import IngressArgs, IngressBackend
from components.api.nodes import TIER
from components.workload import Platform

INGRESS_NGINX = "nginx.ingress.kubernetes.io"


def ingress_annotations(
    ingress: IngressArgs, headers_ref: pulumi.Input[str] | None
) -> dict[str, pulumi.Input[str]]:
    """ingress-nginx rate limits per client address, TLS from cert-manager, response headers."""
    annotations: dict[str, pulumi.Input[str]] = {
        f"{INGRESS_NGINX}/limit-rps": str(ingress.rate_limit.rps),
        f"{INGRESS_NGINX}/limit-burst-multiplier": str(ingress.rate_limit.burst_multiplier),
        f"{INGRESS_NGINX}/limit-connections": str(ingress.rate_limit.connections),
    }
    if ingress.tls is not None:
        annotations["cert-manager.io/cluster-issuer"] = ingress.tls.issuer
        annotations[f"{INGRESS_NGINX}/force-ssl-redirect"] = "true"
    if headers_ref is not None:
        annotations[f"{INGRESS_NGINX}/custom-headers"] = headers_ref
    return annotations


def ingress_routes(
    ingress: IngressArgs, balancer: IngressBackend
) -> list[tuple[str, IngressBackend]]:
    """Host -> Service: the API host to the balancer, the UI host to the UI (when both exist)."""
    routes = [(ingress.api_host, balancer)]
    if ingress.ui_host is not None and ingress.ui_backend is not None:
        routes.append((ingress.ui_host, ingress.ui_backend))
    return routes


def ingress_hosts(ingress: IngressArgs) -> list[str]:
    return [host for host, _ in ingress_routes(ingress, IngressBackend("", 0))]


def ingress_spec(ingress: IngressArgs, balancer: IngressBackend, tls_secret: str) -> dict[str, Any]:
    def rule(host: str, target: IngressBackend) -> dict[str, Any]:
        return {
            "host": host,
            "http": {
                "paths": [
                    {
                        "path": "/",
                        "pathType": "Prefix",
                        "backend": {
                            "service": {"name": target.service, "port": {"number": target.port}}
                        },
                    }
                ]
            },
        }

    routes = ingress_routes(ingress, balancer)
    spec: dict[str, Any] = {
        "ingressClassName": ingress.class_name,
        "rules": [rule(host, target) for host, target in routes],
    }
    if ingress.tls is not None:
        spec["tls"] = [{"hosts": [host for host, _ in routes], "secretName": tls_secret}]
    return spec


def tls_secret_name(platform: Platform, ingress: IngressArgs) -> str:
    """The Secret cert-manager writes the certificate to: configured, or `{release}-api-tls`."""
    configured = ingress.tls.secret_name if ingress.tls is not None else None
    return configured or f"{platform.name(TIER)}-tls"
