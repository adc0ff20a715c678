"""The Nginx least-connections balancer in front of the backend (seed 002): its nginx.conf
(`nginx.conf.tmpl` beside this module) resolves the backend's headless Service, so
`least_conn` balances over the pods themselves."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

import pulumi

from components.api.args import ApiArgs, BalancerArgs
from components.api.nodes import BALANCER, BALANCER_NODE, HEALTH_PATH, TIER
from components.datafiles import render
from components.graph import ServicePort
from components.quantities import parse_cpu
from components.workload import (
    Container,
    Platform,
    Scratch,
    ServiceSpec,
    WorkloadArgs,
    http_probes,
)

CONFIG_DIR = "/etc/nginx/trading"
NGINX_CONF = "nginx.conf.tmpl"

_HEADER_VALUE = re.compile(r'^[^"\\\r\n]*$')


def nginx_conf(
    balancer: BalancerArgs,
    upstream_host: str,
    backend_port: int,
    headers: Mapping[str, str],
) -> str:
    """The whole nginx.conf, from nginx.conf.tmpl: non-root paths (pid and temp files under
    /tmp), least_conn over the backend pods (32 idle connections kept per worker), `/health`
    answered by nginx itself, security headers on every response."""
    for value in headers.values():
        if not _HEADER_VALUE.match(value):
            raise ValueError(f"header value {value!r} may not contain quotes or newlines")
    add_headers = "".join(
        f'    add_header {name} "{value}" always;\n' for name, value in headers.items()
    )
    return render(
        __file__,
        NGINX_CONF,
        worker_processes=max(1, math.ceil(parse_cpu(balancer.resources.cpu_limit))),
        worker_connections=balancer.worker_connections,
        resolver=balancer.resolver,
        upstream_host=upstream_host,
        backend_port=backend_port,
        port=balancer.port,
        add_headers=add_headers,
        health_path=HEALTH_PATH,
    )


def balancer_workload_args(args: ApiArgs, conf: pulumi.Input[str]) -> WorkloadArgs:
    platform = args.platform
    return WorkloadArgs(
        platform=platform,
        component=BALANCER,
        tier=TIER,
        main=Container(
            name="nginx",
            image=args.balancer.image,
            # The image's entrypoint scripts rewrite /etc/nginx; run nginx directly.
            command=("nginx", "-c", f"{CONFIG_DIR}/nginx.conf", "-g", "daemon off;"),
            resources=args.balancer.resources,
            ports=(ServicePort("http", args.balancer.port),),
            probes=http_probes("http", HEALTH_PATH),
            # Keep serving until the endpoint is gone everywhere; the image's stop signal
            # (SIGQUIT) then lets nginx finish in-flight requests.
            pre_stop=("sleep", "5"),
        ),
        replicas=args.balancer.replicas,
        config={"nginx.conf": conf},
        config_mount=CONFIG_DIR,
        scratch=(Scratch("tmp", "/tmp"), Scratch("cache", "/var/cache/nginx")),
        service=ServiceSpec(type=args.balancer.service_type),
        # The public entry (ingress controller or mesh gateway) is the platform's.
        network=platform.access(args.graph, BALANCER_NODE),
    )


def public_policy_spec(platform: Platform, balancer: BalancerArgs) -> dict[str, Any]:
    """A LoadBalancer's clients come from outside the cluster (source NAT to node IPs)."""
    return {
        "podSelector": {"matchLabels": platform.selector(BALANCER)},
        "policyTypes": ["Ingress"],
        "ingress": [
            {
                "from": [{"ipBlock": {"cidr": "0.0.0.0/0"}}],
                "ports": [{"protocol": "TCP", "port": balancer.port}],
            }
        ],
    }
