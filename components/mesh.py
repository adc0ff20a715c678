"""The service mesh: Istio installed from its Helm charts, strict mTLS, graph-derived
authorization, seed 001's circuit breakers, and the public gateway.

Who may call whom comes from the dependency graph: one ALLOW rule per declared call, nothing for
an undeclared pair, on top of an allow-nothing policy for the namespace.

The public gateway serves every routed host over HTTPS with one credential, which cert-manager
issues when an issuer is given (a Certificate in the gateway's namespace, one DNS name per host);
seed 001's ingress security applies to every host: the security headers on each route's
responses, and one local rate limit (an EnvoyFilter on the gateway pods) for all of them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import yaml

from components.graph import DependencyGraph, Node, ServicePort
from components.kube import kube
from components.merge import deep_merge
from components.network import Peer, namespace_traffic_spec
from components.workload import Platform, Resources

GATEWAY_RELEASE = "istio-ingressgateway"
RELEASE_TIMEOUT = 600
# istiod's `autoscaleMax` and the gateway's `autoscaling.maxReplicas` in the Istio charts' values.
CHART_AUTOSCALE_MAX = 5
RUNTIME_DEFAULT = {"type": "RuntimeDefault"}
# The gateway chart's own pod default (binding 80/443 without privileges); setting the chart's
# `securityContext` replaces it, so it is restated next to the seccomp profile.
UNPRIVILEGED_PORTS = {"name": "net.ipv4.ip_unprivileged_port_start", "value": "0"}
# The gateway chart labels its pods `istio: <release name without "istio-">`.
GATEWAY_SELECTOR = {"istio": "ingressgateway"}
# The gateway serves HTTPS only (port 80 redirects): browsers may remember that for a year, as
# ingress-nginx tells them by default without the mesh.
HSTS = ("Strict-Transport-Security", "max-age=31536000")
CERTIFICATE_API = "cert-manager.io/v1"
ENVOY_FILTER_API = "networking.istio.io/v1alpha3"  # the only version Istio serves EnvoyFilter at
# Envoy's local rate limit filter the gateway's EnvoyFilter inserts (all but the token bucket).
RATE_LIMIT_FILE = Path(__file__).resolve().parent.parent / "mesh" / "gateway-rate-limit.yaml"
Manifest = dict[str, Any]


@dataclass(frozen=True)
class Route:
    host: str
    prefix: str
    service: str


@dataclass(frozen=True)
class CircuitBreaker:
    max_connections: int
    http1_max_pending_requests: int
    http2_max_requests: int
    max_requests_per_connection: int
    consecutive_5xx_errors: int
    interval: str
    base_ejection_time: str
    max_ejection_percent: int


@dataclass(frozen=True)
class Issuer:
    """The cert-manager issuer that signs the gateway's certificate."""

    kind: str  # ClusterIssuer, or Issuer (then in the gateway's namespace)
    name: str


@dataclass(frozen=True)
class RateLimit:
    """Envoy's local rate limit on each gateway replica: a token bucket refilled with `rps`
    tokens every second, holding at most `rps * burst_multiplier`."""

    rps: int
    burst_multiplier: int


@dataclass(frozen=True)
class MeshArgs:
    platform: Platform
    graph: DependencyGraph
    namespace: str
    install: bool
    mode: str
    mtls_mode: str
    chart_version: str
    chart_repo: str
    system_namespace: str
    ingress_namespace: str
    istiod_resources: Resources
    gateway_resources: Resources
    proxy_resources: Resources
    timeout: str
    retry_attempts: int
    per_try_timeout: str
    retry_on: str
    circuit_breaker: CircuitBreaker
    tls_credential_name: str
    routes: tuple[Route, ...]
    # Istio chart platform profile (gke, k3s, openshift, ...); None: the charts' defaults.
    istio_platform: str | None = None
    # istiod's ENABLE_NATIVE_SIDECARS: "auto" (Istio's default), "true" or "false".
    native_sidecars: str = "auto"
    gateway_service_type: str = "LoadBalancer"
    # Wait (atomically) for the gateway release to be ready, at most this many seconds.
    gateway_wait: bool = True
    gateway_wait_timeout: int = RELEASE_TIMEOUT
    # The stack's cap on every autoscaler's maximum (cluster.maxReplicasCap), applied to the
    # HorizontalPodAutoscalers the istiod and gateway charts create; None: the charts' own.
    max_replicas_cap: int | None = None
    # cert-manager issues `tls_credential_name` for every public host; None: the Secret is
    # provided some other way (created by hand, synced from a vault).
    certificate_issuer: Issuer | None = None
    # One limit on the gateway for every public host; None: no limit.
    rate_limit: RateLimit | None = None
    # Set on every response of every public host (plus HSTS); empty: none.
    security_headers: tuple[tuple[str, str], ...] = ()


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
    if any(route.service == node.name for route in args.routes):
        gateway = principal(args.ingress_namespace, GATEWAY_RELEASE)
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
    breaker = args.circuit_breaker
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


def public_hosts(args: MeshArgs) -> list[str]:
    """Every host the gateway serves: the hosts of the routes."""
    return sorted({route.host for route in args.routes})


def response_headers(args: MeshArgs) -> dict[str, str]:
    if not args.security_headers:
        return {}
    return {**dict(args.security_headers), HSTS[0]: HSTS[1]}


def certificate_spec(args: MeshArgs, issuer: Issuer) -> Manifest:
    """cert-manager writes the gateway's credential Secret, valid for every public host."""
    return {
        "secretName": args.tls_credential_name,
        "dnsNames": public_hosts(args),
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


def rate_limit_filter(limit: RateLimit, path: Path = RATE_LIMIT_FILE) -> Manifest:
    """The Envoy filter of `path` with the token bucket of `limit`."""
    envoy_filter: Manifest = yaml.safe_load(path.read_text())
    bucket = {
        "max_tokens": limit.rps * limit.burst_multiplier,
        "tokens_per_fill": limit.rps,
        "fill_interval": "1s",
    }
    return deep_merge(envoy_filter, {"typed_config": {"token_bucket": bucket}})


def gateway_spec(args: MeshArgs) -> Manifest:
    hosts = public_hosts(args)
    return {
        "selector": GATEWAY_SELECTOR,
        "servers": [
            {
                "port": {"number": 443, "name": "https", "protocol": "HTTPS"},
                "hosts": hosts,
                "tls": {"mode": "SIMPLE", "credentialName": args.tls_credential_name},
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
        (r for r in args.routes if r.host == host), key=lambda r: len(r.prefix), reverse=True
    )
    headers = response_headers(args)
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
                "timeout": args.timeout,
                "retries": {
                    "attempts": args.retry_attempts,
                    "perTryTimeout": args.per_try_timeout,
                    "retryOn": args.retry_on,
                },
            }
        )
    return {"hosts": [host], "gateways": [gateway], "http": http}


def slug(host: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", host.lower()).strip("-")


class ServiceMesh(pulumi.ComponentResource):
    """Istio charts (base, cni, istiod, gateway) and the platform's Istio objects."""

    def __init__(self, name: str, args: MeshArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("trading:mesh:ServiceMesh", name, None, opts)
        platform = args.platform
        installed: list[pulumi.Resource] = []
        if args.install:
            installed = self._install(name, args)
        after_install = pulumi.ResourceOptions(parent=self, depends_on=installed)

        def custom(kind: str, api: str, logical: str, object_name: str, spec: Manifest) -> None:
            kube(
                k8s.apiextensions.CustomResource,
                logical,
                opts=after_install,
                api_version=api,
                kind=kind,
                metadata=platform.metadata("mesh", name=object_name, tier="service-mesh"),
                spec=spec,
            )

        custom(
            "PeerAuthentication",
            "security.istio.io/v1",
            f"{name}-mtls",
            platform.name("mtls"),
            {"mtls": {"mode": args.mtls_mode}},
        )
        # An ALLOW policy without rules matches nothing: the namespace denies by default.
        custom(
            "AuthorizationPolicy",
            "security.istio.io/v1",
            f"{name}-allow-nothing",
            platform.name("allow-nothing"),
            {},
        )
        for node_name in args.graph.names:
            node = args.graph[node_name]
            if not node.ports:
                continue
            custom(
                "DestinationRule",
                "networking.istio.io/v1",
                f"{name}-dr-{node.name}",
                node.host,
                destination_rule_spec(args, node),
            )
            spec = authorization_spec(args, node) if meshed(args, node) else None
            if spec is not None:
                custom(
                    "AuthorizationPolicy",
                    "security.istio.io/v1",
                    f"{name}-authz-{node.name}",
                    node.host,
                    spec,
                )
        gateway = platform.name("gateway")
        custom("Gateway", "networking.istio.io/v1", f"{name}-gateway", gateway, gateway_spec(args))
        for host in public_hosts(args):
            custom(
                "VirtualService",
                "networking.istio.io/v1",
                f"{name}-vs-{slug(host)}",
                platform.name(slug(host))[:63].rstrip("-"),
                virtual_service_spec(args, host, gateway),
            )
        if args.certificate_issuer is not None:
            # The gateway reads its credential from its own namespace.
            kube(
                k8s.apiextensions.CustomResource,
                f"{name}-gateway-certificate",
                opts=after_install,
                api_version=CERTIFICATE_API,
                kind="Certificate",
                metadata=platform.metadata(
                    "mesh",
                    name=args.tls_credential_name,
                    tier="service-mesh",
                    namespace=args.ingress_namespace,
                ),
                spec=certificate_spec(args, args.certificate_issuer),
            )
        if args.rate_limit is not None:
            # An EnvoyFilter applies to the workloads of its own namespace: the gateway's.
            kube(
                k8s.apiextensions.CustomResource,
                f"{name}-gateway-rate-limit",
                opts=after_install,
                api_version=ENVOY_FILTER_API,
                kind="EnvoyFilter",
                metadata=platform.metadata(
                    "mesh",
                    name=platform.name("gateway-rate-limit"),
                    tier="service-mesh",
                    namespace=args.ingress_namespace,
                ),
                spec=rate_limit_spec(args.rate_limit),
            )
        if platform.monitoring_namespace:
            # Prometheus scrapes merged app + proxy metrics from every sidecar on 15020.
            kube(
                k8s.networking.v1.NetworkPolicy,
                f"{name}-merged-metrics",
                opts=pulumi.ResourceOptions(parent=self),
                metadata=platform.metadata("mesh", name=platform.name("mesh-merged-metrics")),
                spec=namespace_traffic_spec(
                    "Ingress",
                    platform.monitoring_namespace,
                    (ServicePort("merged-metrics", 15020),),
                ),
            )
        # Sidecars fetch their configuration and certificates from istiod.
        kube(
            k8s.networking.v1.NetworkPolicy,
            f"{name}-control-plane",
            opts=pulumi.ResourceOptions(parent=self),
            metadata=platform.metadata("mesh", name=platform.name("mesh-control-plane")),
            spec=namespace_traffic_spec(
                "Egress", args.system_namespace, (ServicePort("xds", 15012),), {"app": "istiod"}
            ),
        )
        self.gateway = gateway
        self.register_outputs({"gateway": gateway, "hosts": public_hosts(args)})

    def _install(self, name: str, args: MeshArgs) -> list[pulumi.Resource]:
        """base -> cni -> istiod -> (ztunnel) -> gateway, each waiting for the one before."""
        platform = args.platform

        def namespace(logical: str, ns: str, pss: str) -> k8s.core.v1.Namespace:
            labels = platform.labels("istio", "service-mesh")
            labels["pod-security.kubernetes.io/enforce"] = pss
            return kube(
                k8s.core.v1.Namespace,
                logical,
                opts=pulumi.ResourceOptions(parent=self),
                metadata={"name": ns, "labels": labels},
            )

        # The CNI node agent needs host paths: its namespace is the one privileged exception.
        system = namespace(f"{name}-system-ns", args.system_namespace, "privileged")
        ingress = namespace(f"{name}-ingress-ns", args.ingress_namespace, "baseline")
        profile = {"profile": "ambient"} if args.mode == "ambient" else {}

        # For the charts whose templates use it (cni, istiod, ztunnel): their zzz_profile.yaml
        # merges files/profile-platform-<name>.yaml (the CNI agent's host paths, OpenShift's
        # multus provider for istiod and SELinux type), istiod sets its PLATFORM variable and
        # ztunnel its OpenShift RBAC. Unknown names fail the install. base and gateway read none.
        platform_values: Manifest = (
            {"global": {"platform": args.istio_platform}} if args.istio_platform else {}
        )

        def release(
            logical: str,
            chart: str,
            ns: str,
            values: Manifest,
            after: list[pulumi.Resource],
            wait: bool = True,
            timeout: int = RELEASE_TIMEOUT,
        ) -> k8s.helm.v3.Release:
            return k8s.helm.v3.Release(
                logical,
                name=chart if chart != "gateway" else GATEWAY_RELEASE,
                chart=chart,
                version=args.chart_version,
                repository_opts={"repo": args.chart_repo},
                namespace=ns,
                values=values,
                # atomic waits for readiness and rolls back on timeout; without it, skip_await.
                atomic=wait,
                skip_await=None if wait else True,
                timeout=timeout,
                opts=pulumi.ResourceOptions(parent=self, depends_on=after),
            )

        def resources(r: Resources) -> Manifest:
            return r.manifest()

        base = release(f"{name}-base", "base", args.system_namespace, {}, [system])
        cni = release(
            f"{name}-cni",
            "cni",
            args.system_namespace,
            # The cni chart reads top-level `resources` and accepts requests only.
            deep_merge(
                profile,
                platform_values,
                {"resources": {"requests": args.proxy_resources.manifest()["requests"]}},
            ),
            [base],
        )
        # Both charts autoscale from 1 to CHART_AUTOSCALE_MAX replicas; a cap lowers the maximum.
        capped = (
            None
            if args.max_replicas_cap is None
            else min(CHART_AUTOSCALE_MAX, args.max_replicas_cap)
        )
        istiod_autoscale = {} if capped is None else {"pilot": {"autoscaleMax": capped}}
        gateway_autoscale = {} if capped is None else {"autoscaling": {"maxReplicas": capped}}
        istiod = release(
            f"{name}-istiod",
            "istiod",
            args.system_namespace,
            deep_merge(
                profile,
                platform_values,
                istiod_autoscale,
                {
                    "pilot": {
                        "resources": resources(args.istiod_resources),
                        # No privileged istio-init container: the restricted profile holds.
                        "cni": {"enabled": True},
                        # Jobs finish with a sidecar only as a native sidecar (Kubernetes 1.29+);
                        # "true" on older clusters injects pods the API server rejects.
                        "env": {"ENABLE_NATIVE_SIDECARS": args.native_sidecars},
                        "seccompProfile": RUNTIME_DEFAULT,
                    },
                    "global": {"proxy": {"resources": resources(args.proxy_resources)}},
                    "meshConfig": {"accessLogFile": "/dev/stdout", "enablePrometheusMerge": True},
                },
            ),
            [cni],
        )
        chain: list[pulumi.Resource] = [istiod]
        if args.mode == "ambient":
            chain = [
                release(
                    f"{name}-ztunnel",
                    "ztunnel",
                    args.system_namespace,
                    deep_merge(platform_values, {"resources": resources(args.proxy_resources)}),
                    [istiod],
                )
            ]
        gateway = release(
            f"{name}-gateway",
            "gateway",
            args.ingress_namespace,
            {
                **gateway_autoscale,
                "resources": resources(args.gateway_resources),
                "service": {"type": args.gateway_service_type},
                "securityContext": {
                    "sysctls": [UNPRIVILEGED_PORTS],
                    "seccompProfile": RUNTIME_DEFAULT,
                },
            },
            [ingress, *chain],
            wait=args.gateway_wait,
            timeout=args.gateway_wait_timeout,
        )
        return [base, cni, istiod, *chain, gateway]
