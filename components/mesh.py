"""The service mesh: Istio installed from its Helm charts, strict mTLS, graph-derived
authorization, seed 001's circuit breakers, and the public gateway.

Who may call whom comes from the dependency graph: one ALLOW rule per declared call, nothing for
an undeclared pair, on top of an allow-nothing policy for the namespace.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

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


def gateway_spec(args: MeshArgs) -> Manifest:
    hosts = sorted({route.host for route in args.routes})
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
    http = []
    for route in routes:
        node = args.graph[route.service]
        http.append(
            {
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
        for host in sorted({route.host for route in args.routes}):
            custom(
                "VirtualService",
                "networking.istio.io/v1",
                f"{name}-vs-{slug(host)}",
                platform.name(slug(host))[:63].rstrip("-"),
                virtual_service_spec(args, host, gateway),
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
        self.register_outputs({"gateway": gateway, "hosts": sorted({r.host for r in args.routes})})

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
