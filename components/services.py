"""The EAFIX trading services (seed 001) as one component over a catalogue of entries.

Each enabled entry becomes one `Workload`: `/healthz` liveness (30 s initial delay, 10 s period)
and readiness (5 s, 5 s), `/metrics` on its port announced for scraping, the connection to NATS,
PostgreSQL and Redis for the stores it declares in `calls` (credentials from their Secrets),
`SERVICE_<NAME>_URL` for every service it calls, an init container that waits for its
callees (the graph's startup order) and, for a service on the bus, one that waits for the KV
bucket it registers in. The catalogue itself is data (stacks/catalogue.yaml).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

import pulumi

from components.endpoints import BusEndpoint, CacheEndpoint, DatabaseEndpoint, SecretFiles
from components.graph import DependencyGraph, Node, ServicePort
from components.workload import (
    Autoscaling,
    Container,
    EnvValue,
    Platform,
    Probe,
    Probes,
    Resources,
    Workload,
    WorkloadArgs,
    scrape_targets,
    wait_for_container,
)

TIER = "trading-services"
HEALTH_PATH = "/healthz"
METRICS_PATH = "/metrics"
# Graph nodes whose connection settings come from an endpoint rather than a plain URL.
BUS, DATABASE, CACHE = "nats", "postgres", "redis"


@dataclass(frozen=True)
class TradingService:
    """One catalogue entry, resolved: defaults, profile and stack overrides applied."""

    name: str
    port: int
    service_type: str
    image: str
    resources: Resources
    replicas: int
    calls: tuple[str, ...]
    # Config key of `calls`, so a graph error points at the line to fix.
    calls_key: str
    stage: str | None
    autoscaling: Autoscaling | None
    log_level: str
    external_egress: bool
    public: bool
    spread: Literal["soft", "hard"]
    env: Mapping[str, str]


@dataclass(frozen=True)
class TradingServicesArgs:
    platform: Platform
    graph: DependencyGraph
    services: tuple[TradingService, ...]
    bus: BusEndpoint
    # The init container that waits for callees (busybox).
    init_image: str
    init_resources: Resources
    database: DatabaseEndpoint | None
    cache: CacheEndpoint | None


def service_nodes(platform: Platform, services: Iterable[TradingService]) -> list[Node]:
    """One graph node per service: `{release}-{name}` on its port, with its declared calls."""
    return [
        platform.node(
            s.name,
            (ServicePort("http", s.port),),
            calls=s.calls,
            declared_at=s.calls_key,
            public=s.public,
            external_egress=s.external_egress,
        )
        for s in services
    ]


def service_env(args: TradingServicesArgs, service: TradingService) -> dict[str, EnvValue]:
    """The container environment, in an order where `$(VAR)` references resolve."""
    env: dict[str, EnvValue] = {
        "SERVICE_NAME": service.name,
        "SERVICE_TYPE": service.service_type,
        "SERVICE_PORT": str(service.port),
        "SERVICE_LOG_LEVEL": service.log_level,
    }
    if args.bus.registers(args.graph, service.name):
        env.update(args.bus.env())
    if DATABASE in service.calls and args.database is not None:
        env.update(args.database.env())
    if CACHE in service.calls and args.cache is not None:
        env.update(args.cache.env())
    # Endpoint URLs (with credentials) win over the graph's plain ones for the same callee.
    for key, url in args.graph.service_env(service.name).items():
        env.setdefault(key, url)
    for key, value in service.env.items():
        env.setdefault(key, value)
    return env


def secret_files(args: TradingServicesArgs, service: TradingService) -> list[SecretFiles]:
    """The credentials `service_env`'s `*_FILE` variables name, mounted as files."""
    files: list[SecretFiles | None] = []
    if BUS in service.calls:
        files.append(args.bus.files())
    if DATABASE in service.calls and args.database is not None:
        files.append(args.database.files())
    if CACHE in service.calls and args.cache is not None:
        files.append(args.cache.files())
    return [f for f in files if f is not None]


def probes() -> Probes:
    """Seed 001: /healthz liveness after 30 s every 10 s, readiness after 5 s every 5 s."""
    return Probes(
        liveness=Probe(port="http", path=HEALTH_PATH, initial_delay=30, period=10),
        readiness=Probe(port="http", path=HEALTH_PATH, initial_delay=5, period=5),
    )


def service_workload_args(args: TradingServicesArgs, service: TradingService) -> WorkloadArgs:
    http = ServicePort("http", service.port)
    files = secret_files(args, service)
    main = Container(
        name=service.name,
        image=service.image,
        resources=service.resources,
        env=service_env(args, service),
        ports=(http,),
        probes=probes(),
        mounts=tuple(f.mount() for f in files),
    )
    waits = []
    for callee in args.graph.callees(service.name):
        if callee.name == BUS:
            waits.append(args.bus.address())
        else:
            waits.append((callee.host, callee.ports[0].port))
    init = (
        (wait_for_container("wait-for-deps", args.init_image, args.init_resources, waits),)
        if waits
        else ()
    ) + args.bus.bucket_waits(args.graph, service.name)
    return WorkloadArgs(
        platform=args.platform,
        component=service.name,
        tier=TIER,
        main=main,
        replicas=service.replicas,
        autoscaling=service.autoscaling,
        init_containers=init,
        spread=service.spread,
        pod_annotations={
            "prometheus.io/scrape": "true",
            "prometheus.io/port": str(service.port),
            "prometheus.io/path": METRICS_PATH,
        },
        network=args.platform.access(args.graph, service.name, scrape_ports=(http,)),
        extra_volumes=tuple(f.manifest() for f in files),
    )


class TradingServices(pulumi.ComponentResource):
    """One Workload per catalogue entry."""

    workloads: dict[str, Workload]

    def __init__(
        self, name: str, args: TradingServicesArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("trading:services:TradingServices", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.workloads = {
            s.name: Workload(f"{name}-{s.name}", service_workload_args(args, s), child)
            for s in args.services
        }
        self.hosts = {n: w.host for n, w in self.workloads.items()}
        self.scrape_targets = scrape_targets(*self.workloads.values())
        self.ports = {s.name: s.port for s in args.services}
        # What the observability tier scrapes: Service name, port name and path per service.
        self.metrics = [
            {"service": self.workloads[s.name].name, "port": "http", "path": METRICS_PATH}
            for s in args.services
        ]
        self.register_outputs({"hosts": self.hosts, "ports": self.ports, "metrics": self.metrics})
