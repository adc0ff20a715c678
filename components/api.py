"""The API tier: seed 002's FastAPI backend behind an Nginx least-connections balancer, and an
optional Ingress with TLS, rate limiting and security headers (seed 001).

- Backend `{release}-backend` (port 8000, 4 uvicorn workers by default, `/health` probes) with the
  connection settings of PostgreSQL, Redis, NATS and the ordered engine shard list; it registers
  in the NATS KV bucket, so its init container `wait-for-kv-bucket` waits for the bucket.
- Balancer `{release}-nginx` (nginx-unprivileged, port 8080, `location = /health`) whose upstream
  uses `least_conn` over the backend *pods*: it resolves the headless Service
  `{release}-backend-headless` through the cluster DNS (`server ... resolve`, nginx >= 1.27.3), so
  the balancing sees every replica the HPA adds. A `server {release}-backend:8000` line would give
  nginx one ClusterIP and leave the choice of pod to kube-proxy, making `least_conn` a no-op.
- Ingress `{release}-api` (when enabled): the API host to the balancer and the UI host to the UI's
  Service, TLS from a cert-manager issuer, ingress-nginx rate limits and response headers.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import pulumi
import pulumi_kubernetes as k8s

from components.endpoints import BusEndpoint, CacheEndpoint, DatabaseEndpoint, SecretFiles
from components.graph import DependencyGraph, Node, ServicePort
from components.kube import kube
from components.quantities import parse_cpu
from components.workload import (
    Autoscaling,
    Container,
    EnvValue,
    Platform,
    Resources,
    Scratch,
    ServiceSpec,
    Workload,
    WorkloadArgs,
    http_probes,
    service_ports,
)

TIER = "api"
BACKEND = "backend"
BALANCER = "nginx"  # the Kubernetes component; seed 002 called it `nginx-ingress`
BACKEND_NODE = "backend"
BALANCER_NODE = "balancer"
CONFIG_DIR = "/etc/nginx/trading"
HEALTH_PATH = "/health"
# Idle connections each nginx worker keeps open to the backend pods.
UPSTREAM_KEEPALIVE = 32
INGRESS_NGINX = "nginx.ingress.kubernetes.io"


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


@dataclass(frozen=True)
class BackendArgs:
    image: str
    resources: Resources
    workers: int
    app_module: str
    port: int
    replicas: int
    autoscaling: Autoscaling | None


@dataclass(frozen=True)
class BalancerArgs:
    image: str
    resources: Resources
    port: int
    replicas: int
    service_type: Literal["ClusterIP", "LoadBalancer"]
    # Where nginx re-resolves the backend's pod addresses; nginx does not use search domains.
    resolver: str
    cluster_domain: str
    worker_connections: int


@dataclass(frozen=True)
class IngressBackend:
    """A Service the Ingress routes a host to."""

    service: str
    port: int


@dataclass(frozen=True)
class IngressTls:
    """TLS for every host of the Ingress, the certificate from a cert-manager ClusterIssuer."""

    issuer: str
    secret_name: str | None  # None: `{release}-api-tls`


@dataclass(frozen=True)
class IngressRateLimit:
    """ingress-nginx limits per client address."""

    rps: int
    burst_multiplier: int
    connections: int


@dataclass(frozen=True)
class IngressArgs:
    api_host: str
    class_name: str
    ui_host: str | None
    # The UI tier's Service for `ui_host`; no UI rule without it.
    ui_backend: IngressBackend | None
    tls: IngressTls | None  # None: plain HTTP
    rate_limit: IngressRateLimit
    # Response headers through ingress-nginx's `custom-headers` annotation (the controller must
    # list them in `global-allowed-response-headers`).
    security_headers: bool


@dataclass(frozen=True)
class ApiArgs:
    platform: Platform
    graph: DependencyGraph
    backend: BackendArgs
    balancer: BalancerArgs
    # `host:port` of each engine shard in shard order (HftEngine.addresses).
    engine_shards: Sequence[str]
    bus: BusEndpoint
    database: DatabaseEndpoint | None
    cache: CacheEndpoint | None
    # None: no Ingress (disabled, or the service mesh gateway takes its role).
    ingress: IngressArgs | None
    # Added by the balancer to every response, and by the Ingress (ingress.security_headers).
    security_headers: Mapping[str, str]


def uvicorn_command(backend: BackendArgs) -> tuple[str, ...]:
    return (
        "uvicorn",
        backend.app_module,
        "--host",
        "0.0.0.0",
        "--port",
        str(backend.port),
        "--workers",
        str(backend.workers),
        # Client address and scheme from the balancer's X-Forwarded-* headers.
        "--proxy-headers",
        "--forwarded-allow-ips",
        "*",
        "--no-server-header",
    )


def backend_env(args: ApiArgs) -> dict[str, EnvValue]:
    """Endpoint settings first (credentials as `*_FILE` paths), then the graph's
    `SERVICE_*_URL` for callees the endpoints do not already describe."""
    env: dict[str, EnvValue] = {
        "UVICORN_WORKERS": str(args.backend.workers),
        "PORT": str(args.backend.port),
    }
    if args.database is not None:
        env.update(args.database.env())
    if args.cache is not None:
        env.update(args.cache.env())
    if args.bus.registers(args.graph, BACKEND_NODE):
        env.update(args.bus.env())
    env["ENGINE_SHARDS"] = ",".join(args.engine_shards)
    env["ENGINE_SHARD_COUNT"] = str(len(args.engine_shards))
    for key, value in args.graph.service_env(BACKEND_NODE).items():
        env.setdefault(key, value)
    return env


def backend_secret_files(args: ApiArgs) -> list[SecretFiles]:
    """The credentials `backend_env`'s `*_FILE` variables name, mounted as files."""
    files = [
        args.database.files() if args.database is not None else None,
        args.cache.files() if args.cache is not None else None,
        args.bus.files(),
    ]
    return [f for f in files if f is not None]


_HEADER_VALUE = re.compile(r'^[^"\\\r\n]*$')


def nginx_conf(
    balancer: BalancerArgs,
    upstream_host: str,
    backend_port: int,
    headers: Mapping[str, str],
) -> str:
    """The whole nginx.conf: non-root paths (pid and temp files under /tmp), least_conn over the
    backend pods, `/health` answered by nginx itself, security headers on every response."""
    for value in headers.values():
        if not _HEADER_VALUE.match(value):
            raise ValueError(f"header value {value!r} may not contain quotes or newlines")
    workers = max(1, math.ceil(parse_cpu(balancer.resources.cpu_limit)))
    add_headers = [f'    add_header {name} "{value}" always;' for name, value in headers.items()]
    lines = [
        f"worker_processes {workers};",
        "pid /tmp/nginx.pid;",
        "error_log /dev/stderr warn;",
        "",
        "events {",
        f"  worker_connections {balancer.worker_connections};",
        "}",
        "",
        "http {",
        "  include /etc/nginx/mime.types;",
        "  default_type application/octet-stream;",
        "  access_log /dev/stdout;",
        "  server_tokens off;",
        "  sendfile on;",
        "  tcp_nodelay on;",
        "  keepalive_timeout 65;",
        "  client_body_temp_path /tmp/client_temp;",
        "  proxy_temp_path /tmp/proxy_temp;",
        "  fastcgi_temp_path /tmp/fastcgi_temp;",
        "  uwsgi_temp_path /tmp/uwsgi_temp;",
        "  scgi_temp_path /tmp/scgi_temp;",
        f"  resolver {balancer.resolver} valid=10s ipv6=off;",
        "",
        "  upstream backend {",
        "    zone backend 64k;",
        "    least_conn;",
        f"    server {upstream_host}:{backend_port} resolve;",
        f"    keepalive {UPSTREAM_KEEPALIVE};",
        "  }",
        "",
        "  server {",
        f"    listen {balancer.port};",
        *add_headers,
        "",
        f"    location = {HEALTH_PATH} {{",
        "      access_log off;",
        "      default_type text/plain;",
        '      return 200 "ok\\n";',
        "    }",
        "",
        "    location / {",
        "      proxy_pass http://backend;",
        "      proxy_http_version 1.1;",
        '      proxy_set_header Connection "";',
        "      proxy_set_header Host $host;",
        "      proxy_set_header X-Real-IP $remote_addr;",
        "      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
        "      proxy_set_header X-Forwarded-Proto $scheme;",
        "      proxy_connect_timeout 2s;",
        "      proxy_read_timeout 30s;",
        "      proxy_next_upstream error timeout http_502 http_503;",
        "    }",
        "  }",
        "}",
    ]
    return "\n".join(lines) + "\n"


def ingress_annotations(
    ingress: IngressArgs, headers_ref: pulumi.Input[str] | None
) -> dict[str, pulumi.Input[str]]:
    """ingress-nginx rate limits per client address, TLS from cert-manager, response headers."""
    annotations: dict[str, pulumi.Input[str]] = {
        f"{INGRESS_NGINX}/limit-rps": str(ingress.rate_limit.rps),
        f"{INGRESS_NGINX}/limit-burst-multiplier": str(ingress.rate_limit.burst_multiplier),
        f"{INGRESS_NGINX}/limit-connections": str(ingress.rate_limit.connections),
    }
    if ingress.tls is not None:
        annotations["cert-manager.io/cluster-issuer"] = ingress.tls.issuer
        annotations[f"{INGRESS_NGINX}/force-ssl-redirect"] = "true"
    if headers_ref is not None:
        annotations[f"{INGRESS_NGINX}/custom-headers"] = headers_ref
    return annotations


def ingress_routes(
    ingress: IngressArgs, balancer: IngressBackend
) -> list[tuple[str, IngressBackend]]:
    """Host -> Service: the API host to the balancer, the UI host to the UI (when both exist)."""
    routes = [(ingress.api_host, balancer)]
    if ingress.ui_host is not None and ingress.ui_backend is not None:
        routes.append((ingress.ui_host, ingress.ui_backend))
    return routes


def ingress_hosts(ingress: IngressArgs) -> list[str]:
    return [host for host, _ in ingress_routes(ingress, IngressBackend("", 0))]


def ingress_spec(ingress: IngressArgs, balancer: IngressBackend, tls_secret: str) -> dict[str, Any]:
    def rule(host: str, target: IngressBackend) -> dict[str, Any]:
        return {
            "host": host,
            "http": {
                "paths": [
                    {
                        "path": "/",
                        "pathType": "Prefix",
                        "backend": {
                            "service": {"name": target.service, "port": {"number": target.port}}
                        },
                    }
                ]
            },
        }

    routes = ingress_routes(ingress, balancer)
    spec: dict[str, Any] = {
        "ingressClassName": ingress.class_name,
        "rules": [rule(host, target) for host, target in routes],
    }
    if ingress.tls is not None:
        spec["tls"] = [{"hosts": [host for host, _ in routes], "secretName": tls_secret}]
    return spec


def tls_secret_name(platform: Platform, ingress: IngressArgs) -> str:
    """The Secret cert-manager writes the certificate to: configured, or `{release}-api-tls`."""
    configured = ingress.tls.secret_name if ingress.tls is not None else None
    return configured or f"{platform.name(TIER)}-tls"


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
        backend_port = ServicePort("http", args.backend.port)
        balancer_port = ServicePort("http", args.balancer.port)
        ingress = args.ingress
        files = backend_secret_files(args)

        self.backend = Workload(
            f"{name}-backend",
            WorkloadArgs(
                platform=platform,
                component=BACKEND,
                tier=TIER,
                main=Container(
                    name="backend",
                    image=args.backend.image,
                    command=uvicorn_command(args.backend),
                    resources=args.backend.resources,
                    env=backend_env(args),
                    ports=(backend_port,),
                    probes=http_probes("http", HEALTH_PATH),
                    mounts=tuple(f.mount() for f in files),
                ),
                extra_volumes=tuple(f.manifest() for f in files),
                replicas=args.backend.replicas,
                autoscaling=args.backend.autoscaling,
                # It registers in the bus's KV bucket: it starts once the bucket exists.
                init_containers=args.bus.bucket_waits(args.graph, BACKEND_NODE),
                network=platform.access(args.graph, BACKEND_NODE, scrape_ports=(backend_port,)),
            ),
            child,
        )
        # Pod addresses for the balancer's least_conn (only ready pods are published).
        headless_name = f"{backend_name}-headless"
        self.backend_headless = kube(
            k8s.core.v1.Service,
            f"{name}-backend-headless",
            opts=child,
            metadata=platform.metadata(BACKEND, name=headless_name, tier=TIER),
            spec={
                "clusterIP": "None",
                "selector": platform.selector(BACKEND),
                "ports": service_ports([backend_port]),
            },
        )

        upstream = pulumi.Output.from_input(platform.namespace).apply(
            lambda ns: f"{headless_name}.{ns}.svc.{args.balancer.cluster_domain}"
        )
        conf = upstream.apply(
            lambda host: nginx_conf(args.balancer, host, args.backend.port, args.security_headers)
        )
        self.balancer = Workload(
            f"{name}-nginx",
            WorkloadArgs(
                platform=platform,
                component=BALANCER,
                tier=TIER,
                main=Container(
                    name="nginx",
                    image=args.balancer.image,
                    # The image's entrypoint scripts rewrite /etc/nginx; run nginx directly.
                    command=("nginx", "-c", f"{CONFIG_DIR}/nginx.conf", "-g", "daemon off;"),
                    resources=args.balancer.resources,
                    ports=(balancer_port,),
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
            ),
            child,
        )
        if args.balancer.service_type == "LoadBalancer":
            # A LoadBalancer's clients come from outside the cluster (source NAT to node IPs).
            kube(
                k8s.networking.v1.NetworkPolicy,
                f"{name}-nginx-public",
                opts=child,
                metadata=platform.metadata(BALANCER, name=f"{balancer_name}-public", tier=TIER),
                spec={
                    "podSelector": {"matchLabels": platform.selector(BALANCER)},
                    "policyTypes": ["Ingress"],
                    "ingress": [
                        {
                            "from": [{"ipBlock": {"cidr": "0.0.0.0/0"}}],
                            "ports": [{"protocol": "TCP", "port": args.balancer.port}],
                        }
                    ],
                },
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
        self.register_outputs(
            {
                "backendHost": backend_name,
                "backendPort": args.backend.port,
                "balancerService": balancer_name,
                "balancerPort": args.balancer.port,
                "ingressHosts": hosts,
            }
        )
