"""The API tier's names and its dependency-graph nodes."""

from __future__ import annotations

from collections.abc import Sequence

from components.graph import Node, ServicePort
from components.workload import Platform

TIER = "api"
BACKEND = "backend"
BALANCER = "nginx"  # the Kubernetes component; seed 002 called it `nginx-ingress`
BACKEND_NODE = "backend"
BALANCER_NODE = "balancer"
# The backend's health endpoint, and the balancer's own (answered by nginx).
HEALTH_PATH = "/health"


def api_nodes(
    platform: Platform,
    engine_shards: int,
    *,
    backend_port: int,
    balancer_port: int,
    stores: Sequence[str] = ("postgres", "redis"),
    bus: str | None = "nats",
) -> list[Node]:
    """`backend` calls the stores, the bus and every engine shard; `balancer` calls `backend`
    and is the public entry (ingress controller, LoadBalancer)."""
    engines = tuple(f"hft-engine-{i}" for i in range(engine_shards))
    return [
        platform.node(
            BACKEND,
            (ServicePort("http", backend_port),),
            name=BACKEND_NODE,
            calls=(*stores, *((bus,) if bus else ()), *engines),
        ),
        platform.node(
            BALANCER,
            (ServicePort("http", balancer_port),),
            name=BALANCER_NODE,
            calls=(BACKEND_NODE,),
            public=True,
        ),
    ]
