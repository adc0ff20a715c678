"""The HFT engine tier: seed 002's C++ engine, partitioned into shards.

Seed 002 runs one engine (gRPC 50051/TCP, market data 9001/UDP) and names "multiple engine
deployments + client-side partitioning" as the path to 10,000+ orders/s. Each shard `i` of `N` is
its own Deployment and Service `{release}-hft-engine-{i}` carrying both ports, told `SHARD_ID` and
`SHARD_COUNT`; clients (the API backend) get the ordered list of shard addresses and route an order
to the shard its key hashes to. Each shard runs one replica: a partition owns its order books.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi

from components.graph import DependencyGraph, Node, ServicePort
from components.workload import (
    Container,
    EnvValue,
    FieldEnv,
    Platform,
    Probe,
    Probes,
    Resources,
    Workload,
    WorkloadArgs,
    scrape_targets,
)

TIER = "hft-engine"
GRPC_PORT = 50051
MARKET_DATA_PORT = 9001


def shard_component(index: int) -> str:
    return f"{TIER}-{index}"


def engine_ports(
    grpc_port: int = GRPC_PORT, market_data_port: int = MARKET_DATA_PORT
) -> tuple[ServicePort, ServicePort]:
    """gRPC for orders (TCP) and the market-data feed (UDP), in that order."""
    return ServicePort("grpc", grpc_port), ServicePort("market-data", market_data_port, "UDP")


def shard_addresses(platform: Platform, shards: int, grpc_port: int = GRPC_PORT) -> tuple[str, ...]:
    """`host:port` of each shard's gRPC endpoint, ordered by shard id (the partitioning key)."""
    return tuple(f"{platform.name(shard_component(i))}:{grpc_port}" for i in range(shards))


def engine_nodes(
    platform: Platform,
    shards: int,
    *,
    grpc_port: int = GRPC_PORT,
    market_data_port: int = MARKET_DATA_PORT,
) -> list[Node]:
    """One graph node per shard, `hft-engine-{i}`; callers may reach gRPC and market data."""
    ports = engine_ports(grpc_port, market_data_port)
    return [platform.node(shard_component(i), ports, scheme="grpc") for i in range(shards)]


@dataclass(frozen=True)
class HftEngineArgs:
    platform: Platform
    graph: DependencyGraph
    image: str
    shards: int
    resources: Resources
    grpc_port: int = GRPC_PORT
    market_data_port: int = MARKET_DATA_PORT
    # gRPC health (grpc.health.v1) on the gRPC port; False probes the TCP port instead.
    grpc_health: bool = True
    # Dedicated low-latency nodes: a node selector and the tolerations of their taints.
    node_selector: Mapping[str, str] = field(default_factory=dict)
    tolerations: tuple[Mapping[str, Any], ...] = ()


def engine_probes(grpc_port: int, grpc_health: bool) -> Probes:
    """gRPC health when the engine serves it, else a TCP connect on the gRPC port."""

    def probe(period: int, failure_threshold: int = 3) -> Probe:
        if grpc_health:
            return Probe(
                port=grpc_port, grpc=True, period=period, failure_threshold=failure_threshold
            )
        return Probe(port="grpc", period=period, failure_threshold=failure_threshold)

    return Probes(
        startup=probe(period=5, failure_threshold=30),
        liveness=probe(period=10),
        readiness=probe(period=5),
    )


def shard_anti_affinity(platform: Platform, shards: int) -> dict[str, Any] | None:
    """Prefer one shard per node, so two partitions never compete for the same cores."""
    if not platform.spread_across_nodes or shards < 2:
        return None
    selector = platform.selector(shard_component(0))
    return {
        "podAntiAffinity": {
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {
                    "weight": 100,
                    "podAffinityTerm": {
                        "topologyKey": "kubernetes.io/hostname",
                        "labelSelector": {
                            "matchLabels": {
                                "app.kubernetes.io/instance": selector["app.kubernetes.io/instance"]
                            },
                            "matchExpressions": [
                                {
                                    "key": "app.kubernetes.io/name",
                                    "operator": "In",
                                    "values": [shard_component(i) for i in range(shards)],
                                }
                            ],
                        },
                    },
                }
            ]
        }
    }


def shard_args(args: HftEngineArgs, index: int) -> WorkloadArgs:
    platform = args.platform
    component = shard_component(index)
    grpc, market_data = engine_ports(args.grpc_port, args.market_data_port)
    env: dict[str, EnvValue] = {
        "SHARD_ID": str(index),
        "SHARD_COUNT": str(args.shards),
        "GRPC_PORT": str(grpc.port),
        "MARKET_DATA_PORT": str(market_data.port),
        "POD_NAME": FieldEnv("metadata.name"),
        **args.graph.service_env(component),
    }
    return WorkloadArgs(
        platform=platform,
        component=component,
        tier=TIER,
        main=Container(
            name="engine",
            image=args.image,
            resources=args.resources,
            env=env,
            ports=(grpc, market_data),
            probes=engine_probes(grpc.port, args.grpc_health),
        ),
        # One replica per shard: the partition owns its order books, so a new pod only starts
        # after the old one stopped (two owners of one partition would double-fill orders).
        replicas=1,
        rollout="Recreate",
        network=platform.access(args.graph, component),
        node_selector=args.node_selector,
        tolerations=tuple(dict(t) for t in args.tolerations),
        affinity=shard_anti_affinity(platform, args.shards),
    )


class HftEngine(pulumi.ComponentResource):
    """N engine shards, each a Deployment with a Service carrying gRPC (TCP) and market data
    (UDP); outputs the ordered shard addresses for client-side partitioning."""

    shards: list[Workload]
    addresses: tuple[str, ...]

    def __init__(
        self, name: str, args: HftEngineArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("trading:engine:HftEngine", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.shards = [
            Workload(f"{name}-{i}", shard_args(args, i), child) for i in range(args.shards)
        ]
        self.addresses = shard_addresses(args.platform, args.shards, args.grpc_port)
        self.scrape_targets = scrape_targets(*self.shards)
        self.grpc_port = args.grpc_port
        self.market_data_port = args.market_data_port
        self.register_outputs(
            {
                "shards": list(self.addresses),
                "shardCount": args.shards,
                "grpcPort": args.grpc_port,
                "marketDataPort": args.market_data_port,
            }
        )
