"""The UI tier: the aegis monitor API and UI of seed 000, and the optional operator frontend.

Seed 000's names, ports, ConfigMap keys and init containers are a contract: `{release}-monitor-api`
on 8100 (API_PORT, NATS_URL, NATS_KV_BUCKET, init container `wait-for-nats`) and
`{release}-monitor-ui` on 3100 (PORT, NEXT_PUBLIC_API_URL, init container `wait-for-api`).
The operator frontend is seed 004's Next.js frontend (/api/health, /api/ready, HPA).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi

from components.endpoints import BusEndpoint
from components.graph import DependencyGraph, Node, ServicePort
from components.workload import (
    Autoscaling,
    Container,
    Platform,
    Probe,
    Probes,
    Resources,
    Scratch,
    Workload,
    WorkloadArgs,
    http_probes,
    scrape_targets,
    wait_for_container,
)

TIER = "ui"
MONITOR_API = "monitor-api"
MONITOR_API_PORT = 8100
MONITOR_UI = "monitor-ui"
MONITOR_UI_PORT = 3100
NATS_NODE = "nats"
# Next.js writes its image and fetch cache under .next/cache; the root filesystem is read-only.
NEXT_SCRATCH = (Scratch("tmp", "/tmp"), Scratch("next-cache", "/app/.next/cache"))


@dataclass(frozen=True)
class MonitorSpec:
    """monitor-api or monitor-ui: what stack config decides (names and ports are seed 000's)."""

    image: str
    resources: Resources
    replicas: int
    # HTTP health path; None probes the TCP port (seed 000 documents no health endpoint).
    health_path: str | None


@dataclass(frozen=True)
class MonitorUiSpec(MonitorSpec):
    # NEXT_PUBLIC_API_URL (None: the monitor API's in-cluster URL).
    api_url: str | None


@dataclass(frozen=True)
class FrontendSpec:
    """The operator frontend (Next.js)."""

    image: str
    resources: Resources
    component: str
    port: int
    replicas: int
    autoscaling: Autoscaling | None
    calls: tuple[str, ...]
    calls_key: str  # config key of `calls`, so graph errors point at it
    # NEXT_PUBLIC_API_URL (None: the URL of the first service it calls).
    api_url: str | None
    # Reached from outside the cluster (ingress or mesh gateway).
    public: bool


@dataclass(frozen=True)
class UiArgs:
    platform: Platform
    graph: DependencyGraph
    bus: BusEndpoint
    monitor_api: MonitorSpec
    monitor_ui: MonitorUiSpec
    # The `wait-for-*` init containers (busybox:1.36 in seed 000).
    init_image: str
    init_resources: Resources
    # None: no operator frontend.
    frontend: FrontendSpec | None


def _node(
    platform: Platform,
    component: str,
    port: int,
    calls: Sequence[str],
    declared_at: str,
    public: bool,
) -> Node:
    return platform.node(
        component,
        (ServicePort("http", port),),
        calls=tuple(calls),
        declared_at=declared_at,
        public=public,
    )


def ui_nodes(platform: Platform, frontend: FrontendSpec | None) -> list[Node]:
    """The tier's graph nodes: monitor-api calls NATS, monitor-ui calls monitor-api."""
    nodes = [
        _node(platform, MONITOR_API, MONITOR_API_PORT, [NATS_NODE], "ui.monitorApi", False),
        _node(platform, MONITOR_UI, MONITOR_UI_PORT, [MONITOR_API], "ui.monitorUi", False),
    ]
    if frontend is not None:
        nodes.append(
            _node(
                platform,
                frontend.component,
                frontend.port,
                frontend.calls,
                frontend.calls_key,
                frontend.public,
            )
        )
    return nodes


def _probes(port: str, health_path: str | None) -> Probes:
    if health_path is not None:
        return http_probes(port, health_path)
    return Probes(
        startup=Probe(port=port, period=5, failure_threshold=30),
        liveness=Probe(port=port, period=10),
        readiness=Probe(port=port, period=5),
    )


def monitor_api_args(args: UiArgs) -> WorkloadArgs:
    """`{release}-monitor-api` on 8100; config in its ConfigMap, NATS credentials from the
    bus's Secret; `wait-for-nats` blocks until NATS answers, then `wait-for-kv-bucket` until
    the bucket it registers in exists."""
    spec = args.monitor_api
    # Seed 000's image reads its credentials from the environment only.
    bus_env = args.bus.secret_env()
    config = {
        "API_PORT": str(MONITOR_API_PORT),
        "NATS_URL": args.bus.url,
        "NATS_KV_BUCKET": args.bus.bucket,
    }
    secrets = {k: v for k, v in bus_env.items() if k not in config}
    main = Container(
        name=MONITOR_API,
        image=spec.image,
        resources=spec.resources,
        env=secrets,
        env_from_config=True,
        ports=(ServicePort("http", MONITOR_API_PORT),),
        probes=_probes("http", spec.health_path),
    )
    host, port = args.bus.address()
    bus_files = args.bus.files()
    return WorkloadArgs(
        platform=args.platform,
        component=MONITOR_API,
        tier=TIER,
        main=main,
        replicas=spec.replicas,
        config=config,
        init_containers=(
            wait_for_container(
                "wait-for-nats", args.init_image, args.init_resources, [(host, port)]
            ),
            # Then the bucket it registers in (seed 000: the KV store comes first).
            *args.bus.bucket_waits(args.graph, MONITOR_API),
        ),
        # The bucket wait reads the NATS credentials from their files (the image, from env).
        extra_volumes=(bus_files.manifest(),) if bus_files is not None else (),
        network=args.platform.access(args.graph, MONITOR_API),
    )


def monitor_ui_args(args: UiArgs) -> WorkloadArgs:
    """`{release}-monitor-ui` on 3100; PORT and NEXT_PUBLIC_API_URL from its ConfigMap;
    `wait-for-api` blocks until the monitor API answers."""
    spec = args.monitor_ui
    api = args.graph[MONITOR_API]
    config = {"PORT": str(MONITOR_UI_PORT), "NEXT_PUBLIC_API_URL": spec.api_url or api.url}
    main = Container(
        name=MONITOR_UI,
        image=spec.image,
        resources=spec.resources,
        env_from_config=True,
        ports=(ServicePort("http", MONITOR_UI_PORT),),
        probes=_probes("http", spec.health_path),
    )
    return WorkloadArgs(
        platform=args.platform,
        component=MONITOR_UI,
        tier=TIER,
        main=main,
        replicas=spec.replicas,
        config=config,
        init_containers=(
            wait_for_container(
                "wait-for-api",
                args.init_image,
                args.init_resources,
                [(api.host, api.ports[0].port)],
            ),
        ),
        scratch=NEXT_SCRATCH,
        network=args.platform.access(args.graph, MONITOR_UI),
    )


def frontend_args(args: UiArgs, spec: FrontendSpec) -> WorkloadArgs:
    """The operator frontend: /api/health liveness, /api/ready readiness, optional HPA."""
    callees = args.graph.callees(spec.component)
    config: dict[str, pulumi.Input[str]] = {"PORT": str(spec.port)}
    api_url = spec.api_url or (callees[0].url if callees else None)
    if api_url:
        config["NEXT_PUBLIC_API_URL"] = api_url
    config.update(args.graph.service_env(spec.component))
    main = Container(
        name=spec.component,
        image=spec.image,
        resources=spec.resources,
        env_from_config=True,
        ports=(ServicePort("http", spec.port),),
        probes=http_probes("http", "/api/health", "/api/ready"),
    )
    return WorkloadArgs(
        platform=args.platform,
        component=spec.component,
        tier=TIER,
        main=main,
        replicas=spec.replicas,
        autoscaling=spec.autoscaling,
        config=config,
        scratch=NEXT_SCRATCH,
        network=args.platform.access(args.graph, spec.component),
    )


class Ui(pulumi.ComponentResource):
    """monitor-api, monitor-ui and (when configured) the operator frontend."""

    monitor_api: Workload
    monitor_ui: Workload
    frontend: Workload | None

    def __init__(self, name: str, args: UiArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("trading:ui:Ui", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.monitor_api = Workload(f"{name}-{MONITOR_API}", monitor_api_args(args), child)
        self.monitor_ui = Workload(f"{name}-{MONITOR_UI}", monitor_ui_args(args), child)
        self.frontend = None
        outputs: dict[str, object] = {
            "monitorApiHost": self.monitor_api.host,
            "monitorApiPort": MONITOR_API_PORT,
            "monitorUiHost": self.monitor_ui.host,
            "monitorUiPort": MONITOR_UI_PORT,
        }
        if args.frontend is not None:
            spec = args.frontend
            self.frontend = Workload(f"{name}-{spec.component}", frontend_args(args, spec), child)
            outputs.update({"frontendHost": self.frontend.host, "frontendPort": spec.port})
        self.outputs = outputs
        self.scrape_targets = scrape_targets(
            self.monitor_api, self.monitor_ui, *filter(None, [self.frontend])
        )
        self.register_outputs(outputs)
