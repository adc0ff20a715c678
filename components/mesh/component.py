"""The ServiceMesh component: the Istio charts (when installed) and the platform's Istio objects:
mTLS, authorization, circuit breakers, the gateway with its routes, certificate and rate limit,
and the NetworkPolicies sidecars need."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from components.graph import ServicePort
from components.kube import kube
from components.mesh.args import MeshArgs
from components.mesh.gateway import (
    certificate_spec,
    gateway_spec,
    public_hosts,
    rate_limit_spec,
    slug,
    virtual_service_spec,
)
from components.mesh.install import install_istio
from components.mesh.policies import authorization_spec, destination_rule_spec, meshed
from components.network import namespace_traffic_spec
from components.workload import Manifest

TOKEN = "trading:mesh:ServiceMesh"
TIER = "service-mesh"
CERTIFICATE_API = "cert-manager.io/v1"
ENVOY_FILTER_API = "networking.istio.io/v1alpha3"  # the only version Istio serves EnvoyFilter at


class ServiceMesh(pulumi.ComponentResource):
    """Istio charts (base, cni, istiod, gateway) and the platform's Istio objects."""

    def __init__(self, name: str, args: MeshArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(TOKEN, name, None, opts)
        platform, gateway_args = args.platform, args.gateway
        installed = install_istio(self, name, args) if args.install is not None else []
        after_install = pulumi.ResourceOptions(parent=self, depends_on=installed)

        def custom(
            kind: str,
            api: str,
            logical: str,
            object_name: str,
            spec: Manifest,
            namespace: str | None = None,
        ) -> None:
            kube(
                k8s.apiextensions.CustomResource,
                logical,
                opts=after_install,
                api_version=api,
                kind=kind,
                metadata=platform.metadata(
                    "mesh",
                    name=object_name,
                    tier=TIER,
                    **({"namespace": namespace} if namespace else {}),
                ),
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
        custom(
            "Gateway",
            "networking.istio.io/v1",
            f"{name}-gateway",
            gateway,
            gateway_spec(gateway_args),
        )
        for host in public_hosts(gateway_args):
            custom(
                "VirtualService",
                "networking.istio.io/v1",
                f"{name}-vs-{slug(host)}",
                platform.name(slug(host))[:63].rstrip("-"),
                virtual_service_spec(args, host, gateway),
            )
        if gateway_args.issuer is not None:
            # The gateway reads its credential from its own namespace.
            custom(
                "Certificate",
                CERTIFICATE_API,
                f"{name}-gateway-certificate",
                gateway_args.tls_credential_name,
                certificate_spec(gateway_args, gateway_args.issuer),
                namespace=gateway_args.namespace,
            )
        if gateway_args.rate_limit is not None:
            # An EnvoyFilter applies to the workloads of its own namespace: the gateway's.
            custom(
                "EnvoyFilter",
                ENVOY_FILTER_API,
                f"{name}-gateway-rate-limit",
                platform.name("gateway-rate-limit"),
                rate_limit_spec(gateway_args.rate_limit),
                namespace=gateway_args.namespace,
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
        self.register_outputs({"gateway": gateway, "hosts": public_hosts(gateway_args)})
