"""The public gateway: every routed host over HTTPS with one credential, which cert-manager
issues when an issuer is given (a Certificate in the gateway's namespace, one DNS name per host);
seed 001's ingress security on every host: the security headers on each route's responses, and
one local rate limit (an EnvoyFilter on the gateway pods) for all of them."""

from __future__ import annotations

import re

from components.datafiles import read_yaml
from components.merge import deep_merge
from components.mesh.args import GatewayArgs, Issuer, MeshArgs, RateLimit
from components.mesh.policies import GATEWAY_SELECTOR, fqdn
from components.workload import Manifest

# The gateway serves HTTPS only (port 80 redirects): browsers may remember that for a year, as
# ingress-nginx tells them by default without the mesh.
HSTS = ("Strict-Transport-Security", "max-age=31536000")
# Envoy's local rate limit filter the gateway's EnvoyFilter inserts (all but the token bucket).
RATE_LIMIT_FILE = "gateway-rate-limit.yaml"


def public_hosts(gateway: GatewayArgs) -> list[str]:
    """Every host the gateway serves: the hosts of the routes."""
    return sorted({route.host for route in gateway.routes})


def response_headers(gateway: GatewayArgs) -> dict[str, str]:
    if not gateway.security_headers:
        return {}
    return {**dict(gateway.security_headers), HSTS[0]: HSTS[1]}


def certificate_spec(gateway: GatewayArgs, issuer: Issuer) -> Manifest:
    """cert-manager writes the gateway's credential Secret, valid for every public host."""
    return {
        "secretName": gateway.tls_credential_name,
        "dnsNames": public_hosts(gateway),
        "issuerRef": {"group": "cert-manager.io", "kind": issuer.kind, "name": issuer.name},
    }


def rate_limit_spec(limit: RateLimit) -> Manifest:
    """Envoy's local rate limit filter on the gateway's listeners, before the router: one token
    bucket per gateway replica for every host; over the limit, 429."""
    return {
        "workloadSelector": {"labels": GATEWAY_SELECTOR},
        "configPatches": [
            {
                "applyTo": "HTTP_FILTER",
                "match": {
                    "context": "GATEWAY",
                    "listener": {
                        "filterChain": {
                            "filter": {
                                "name": "envoy.filters.network.http_connection_manager",
                                "subFilter": {"name": "envoy.filters.http.router"},
                            }
                        }
                    },
                },
                "patch": {"operation": "INSERT_BEFORE", "value": rate_limit_filter(limit)},
            }
        ],
    }


def rate_limit_filter(limit: RateLimit) -> Manifest:
    """The Envoy filter of `gateway-rate-limit.yaml` with the token bucket of `limit`."""
    bucket = {
        "max_tokens": limit.rps * limit.burst_multiplier,
        "tokens_per_fill": limit.rps,
        "fill_interval": "1s",
    }
    return deep_merge(
        read_yaml(__file__, RATE_LIMIT_FILE), {"typed_config": {"token_bucket": bucket}}
    )


def gateway_spec(gateway: GatewayArgs) -> Manifest:
    hosts = public_hosts(gateway)
    return {
        "selector": GATEWAY_SELECTOR,
        "servers": [
            {
                "port": {"number": 443, "name": "https", "protocol": "HTTPS"},
                "hosts": hosts,
                "tls": {"mode": "SIMPLE", "credentialName": gateway.tls_credential_name},
            },
            {
                "port": {"number": 80, "name": "http", "protocol": "HTTP"},
                "hosts": hosts,
                "tls": {"httpsRedirect": True},
            },
        ],
    }


def virtual_service_spec(args: MeshArgs, host: str, gateway: str) -> Manifest:
    # Longest prefix first: Istio takes the first matching route.
    routes = sorted(
        (r for r in args.gateway.routes if r.host == host),
        key=lambda r: len(r.prefix),
        reverse=True,
    )
    headers = response_headers(args.gateway)
    retries = args.traffic.retries
    http = []
    for route in routes:
        node = args.graph[route.service]
        http.append(
            {
                **({"headers": {"response": {"set": headers}}} if headers else {}),
                "name": route.service,
                "match": [{"uri": {"prefix": route.prefix}}],
                "route": [
                    {
                        "destination": {
                            "host": fqdn(node, args.namespace),
                            "port": {"number": node.ports[0].port},
                        }
                    }
                ],
                "timeout": args.traffic.timeout,
                "retries": {
                    "attempts": retries.attempts,
                    "perTryTimeout": retries.per_try_timeout,
                    "retryOn": retries.retry_on,
                },
            }
        )
    return {"hosts": [host], "gateways": [gateway], "http": http}


def slug(host: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", host.lower()).strip("-")
