"""The Api component: the backend and its headless Service, the balancer with its nginx.conf,
and (when the stack enables it) the Ingress with its response-headers ConfigMap."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from components.api.args import ApiArgs, IngressBackend
from components.api.backend import backend_workload_args, headless_name, headless_spec
from components.api.balancer import balancer_workload_args, nginx_conf, public_policy_spec
from components.api.ingress import (
    ingress_annotations,
    ingress_hosts,
    ingress_spec,
    tls_secret_name,
)
from components.api.nodes import BACKEND, BALANCER, TIER
from components.kube import kube
from components.workload import Workload, scrape_targets


class Api(pulumi.ComponentResource):
    """FastAPI backend, Nginx least-connections balancer, optional Ingress."""

    backend: Workload
    balancer: Workload
    ingress: k8s.networking.v1.Ingress | None

    def __init__(
        self, name: str, args: ApiArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("trading:api:Api", name, None, opts)
        platform = args.platform
        child = pulumi.ResourceOptions(parent=self)
        backend_name = platform.name(BACKEND)
        balancer_name = platform.name(BALANCER)
        ingress = args.ingress

        self.backend = Workload(f"{name}-backend", backend_workload_args(args), child)
        headless = headless_name(platform)
        self.backend_headless = kube(
            k8s.core.v1.Service,
            f"{name}-backend-headless",
            opts=child,
            metadata=platform.metadata(BACKEND, name=headless, tier=TIER),
            spec=headless_spec(platform, args.backend),
        )

        upstream = pulumi.Output.from_input(platform.namespace).apply(
            lambda ns: f"{headless}.{ns}.svc.{args.balancer.cluster_domain}"
        )
        conf = upstream.apply(
            lambda host: nginx_conf(args.balancer, host, args.backend.port, args.security_headers)
        )
        self.balancer = Workload(f"{name}-nginx", balancer_workload_args(args, conf), child)
        if args.balancer.service_type == "LoadBalancer":
            kube(
                k8s.networking.v1.NetworkPolicy,
                f"{name}-nginx-public",
                opts=child,
                metadata=platform.metadata(BALANCER, name=f"{balancer_name}-public", tier=TIER),
                spec=public_policy_spec(platform, args.balancer),
            )

        self.ingress = None
        hosts: list[str] = []
        if ingress is not None:
            headers_ref: pulumi.Output[str] | None = None
            if ingress.security_headers and args.security_headers:
                headers_name = f"{platform.name(TIER)}-response-headers"
                headers = kube(
                    k8s.core.v1.ConfigMap,
                    f"{name}-response-headers",
                    opts=child,
                    metadata=platform.metadata(TIER, name=headers_name, tier=TIER),
                    data=dict(args.security_headers),
                )
                headers_ref = pulumi.Output.concat(
                    headers.metadata.namespace, "/", headers.metadata.name
                )
            self.ingress = kube(
                k8s.networking.v1.Ingress,
                f"{name}-ingress",
                opts=child,
                metadata=platform.metadata(
                    TIER, tier=TIER, annotations=ingress_annotations(ingress, headers_ref)
                ),
                spec=ingress_spec(
                    ingress,
                    IngressBackend(balancer_name, args.balancer.port),
                    tls_secret_name(platform, ingress),
                ),
            )
            hosts = ingress_hosts(ingress)

        self.backend_host = backend_name
        self.backend_port = args.backend.port
        self.balancer_service = balancer_name
        self.balancer_port = args.balancer.port
        self.hosts = hosts
        self.scrape_targets = scrape_targets(self.backend, self.balancer)
        self.register_outputs(
            {
                "backendHost": backend_name,
                "backendPort": args.backend.port,
                "balancerService": balancer_name,
                "balancerPort": args.balancer.port,
                "ingressHosts": hosts,
            }
        )
