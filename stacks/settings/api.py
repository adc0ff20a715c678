"""Settings of the `api` key: seed 002's FastAPI backend and Nginx balancer, seed 004's backend
autoscaling, and the optional Ingress of seed 001 (TLS, rate limiting, security headers)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, Field, model_validator

from components.api import (
    ApiArgs,
    BackendArgs,
    BalancerArgs,
    IngressArgs,
    IngressBackend,
    IngressRateLimit,
    IngressTls,
    api_nodes,
)
from components.endpoints import BusEndpoint, CacheEndpoint, DatabaseEndpoint
from components.graph import DependencyGraph, Node
from components.workload import Platform
from stacks.errors import ConfigError
from stacks.settings.engine import EngineSettings
from stacks.settings.images import ImagesSettings
from stacks.settings.types import (
    AutoscalingSettings,
    DnsLabel,
    ImageRef,
    Model,
    Port,
    ResourceSettings,
    positive,
)
from stacks.versions import IMAGES

SERVICE_TYPES = ("ClusterIP", "LoadBalancer")
_HOST = re.compile(r"^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)+$")
_APP = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_]*$")
_HEADER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]*$")
_HEADER_VALUE = re.compile(r'^[^"\\\r\n$]+$')

# Response headers the balancer and the Ingress add (seed 001's "security headers").
DEFAULT_SECURITY_HEADERS: Mapping[str, str] = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
}


def _service_type(value: Any) -> Any:
    # Before the Literal check, so the message says why NodePort is missing from the list.
    if value not in SERVICE_TYPES:
        raise ValueError(
            "must be ClusterIP (kind: reach it with kubectl port-forward) or LoadBalancer "
            "(OrbStack, production); NodePort and ExternalName are not allowed by platform "
            "policy (NodePort opens the port on every node)"
        )
    return value


def _unprivileged_port(value: int) -> int:
    if not 1024 <= value <= 65535:
        raise ValueError(
            "must be a port between 1024 and 65535 (nginx runs as non-root without capabilities)"
        )
    return value


def _workers(value: int) -> int:
    if not 1 <= value <= 64:
        raise ValueError("must be between 1 and 64 uvicorn worker processes")
    return value


def _host(value: str) -> str:
    if len(value) > 253 or not _HOST.match(value):
        raise ValueError(
            "must be a fully qualified DNS name in lower case, e.g. api.trading.example.com"
        )
    return value


def _app(value: str) -> str:
    if not _APP.match(value):
        raise ValueError("must be an ASGI application as module:attribute, e.g. app.main:app")
    return value


def _headers(value: dict[str, str]) -> dict[str, str]:
    for name, text in value.items():
        if not _HEADER_NAME.match(name) or not _HEADER_VALUE.match(text):
            raise ValueError(
                f"header {name!r}: names are letters, digits and '-'; values are non-empty and "
                "contain no quotes, backslashes, '$' or newlines"
            )
    return value


ServiceType = Annotated[Literal["ClusterIP", "LoadBalancer"], BeforeValidator(_service_type)]
Host = Annotated[str, AfterValidator(_host)]
Replicas = Annotated[int, positive("a replica count")]


class BackendSettings(Model):
    """The FastAPI backend (seed 002): port 8000, 4 uvicorn workers, /health."""

    # The whole reference; None: hft-backend from the stack's `images`.
    image: ImageRef | None = None
    app_module: Annotated[str, AfterValidator(_app)] = "app.main:app"
    port: Port = 8000
    workers: Annotated[int, AfterValidator(_workers)]
    replicas: Replicas
    resources: ResourceSettings
    # Seed 004's backend HPA in production; None: `replicas` fixed.
    autoscaling: AutoscalingSettings | None

    def image_ref(self, images: ImagesSettings) -> str:
        """The backend's image: `api.backend.image`, else the stack's registry and tag."""
        return self.image or images.ref(IMAGES["hftBackend"])

    def build(self, images: ImagesSettings) -> BackendArgs:
        return BackendArgs(
            image=self.image_ref(images),
            resources=self.resources.build(),
            workers=self.workers,
            app_module=self.app_module,
            port=self.port,
            replicas=self.replicas,
            autoscaling=self.autoscaling.build() if self.autoscaling else None,
        )


class BalancerSettings(Model):
    """The Nginx least-connections balancer in front of the backend (seed 002). Its image is the
    upstream nginx (stacks/versions.py) with the platform's config, not an application image."""

    image: ImageRef = IMAGES["nginx"]
    port: Annotated[int, AfterValidator(_unprivileged_port)] = 8080
    replicas: Replicas
    service_type: ServiceType
    resources: ResourceSettings
    # DNS server nginx re-resolves the backend pods with (nginx uses no search domains).
    resolver: Annotated[str, Field(min_length=1)] = "kube-dns.kube-system.svc.cluster.local"
    cluster_domain: Annotated[str, Field(min_length=1)] = "cluster.local"
    worker_connections: Annotated[int, positive("connections")] = 1024

    def build(self) -> BalancerArgs:
        return BalancerArgs(
            image=self.image,
            resources=self.resources.build(),
            port=self.port,
            replicas=self.replicas,
            service_type=self.service_type,
            resolver=self.resolver,
            cluster_domain=self.cluster_domain,
            worker_connections=self.worker_connections,
        )


class TlsSettings(Model):
    enabled: bool = False
    # cert-manager ClusterIssuer that signs the certificate (required when enabled).
    issuer: DnsLabel | None = None
    # Secret cert-manager writes the certificate to; default `{release}-api-tls`.
    secret_name: DnsLabel | None = None

    @model_validator(mode="after")
    def _issuer(self) -> TlsSettings:
        if self.enabled and self.issuer is None:
            raise ValueError(
                "TLS is enabled without an issuer; set issuer to the name of the cert-manager "
                "ClusterIssuer that signs the certificate, or disable TLS"
            )
        return self

    def build(self) -> IngressTls | None:
        if not self.enabled or self.issuer is None:  # the validator refuses enabled without one
            return None
        return IngressTls(issuer=self.issuer, secret_name=self.secret_name)


class RateLimitSettings(Model):
    """ingress-nginx limits per client address (seed 001's ingress rate limiting)."""

    rps: Annotated[int, positive("requests per second")] = 50
    burst_multiplier: Annotated[int, positive("a multiplier")] = 5
    connections: Annotated[int, positive("connections")] = 20

    def build(self) -> IngressRateLimit:
        return IngressRateLimit(
            rps=self.rps, burst_multiplier=self.burst_multiplier, connections=self.connections
        )


class IngressSettings(Model):
    enabled: bool
    class_name: DnsLabel = "nginx"
    api_host: Host | None = None
    ui_host: Host | None = None
    # The graph service `uiHost` routes to (its first port), as the mesh gateway's UI route does.
    ui_service: DnsLabel = "monitor-ui"
    tls: TlsSettings = TlsSettings()
    rate_limit: RateLimitSettings = RateLimitSettings()
    # Response headers via the `custom-headers` annotation; the controller must allow them in
    # its `global-allowed-response-headers` (docs/engine-and-api.md).
    security_headers: bool = True

    @model_validator(mode="after")
    def _hosts(self) -> IngressSettings:
        if self.enabled and self.api_host is None:
            raise ValueError(
                "the Ingress is enabled without apiHost; set apiHost (and optionally uiHost) "
                "to the DNS names it publishes, or disable it"
            )
        if self.api_host is not None and self.api_host == self.ui_host:
            raise ValueError(f"apiHost and uiHost are both {self.api_host}; they must differ")
        return self

    def build(self, graph: DependencyGraph) -> IngressArgs | None:
        """None when disabled (always with the mesh: its gateway publishes the hosts, and the
        settings refuse api.ingress.enabled there)."""
        if not self.enabled or self.api_host is None:  # the validator: enabled needs apiHost
            return None
        ui: IngressBackend | None = None
        if self.ui_host is not None and self.ui_service in graph:
            node = graph[self.ui_service]  # checked against the graph by ApiSettings.check
            ui = IngressBackend(node.host, node.ports[0].port)
        return IngressArgs(
            api_host=self.api_host,
            class_name=self.class_name,
            ui_host=self.ui_host,
            ui_backend=ui,
            tls=self.tls.build(),
            rate_limit=self.rate_limit.build(),
            security_headers=self.security_headers,
        )


class ApiSettings(Model):
    backend: BackendSettings
    balancer: BalancerSettings
    ingress: IngressSettings
    # Added by the balancer to every response, and by the Ingress when it is enabled.
    security_headers: Annotated[dict[str, str], AfterValidator(_headers)] = dict(
        DEFAULT_SECURITY_HEADERS
    )

    def nodes(self, platform: Platform, engine: EngineSettings) -> list[Node]:
        """`backend` (calling postgres, redis, nats and every engine shard) and `balancer`."""
        return api_nodes(
            platform,
            engine.shards,
            backend_port=self.backend.port,
            balancer_port=self.balancer.port,
        )

    def ingress_services(self) -> set[str]:
        """Graph services the Ingress routes a host to (beyond the always-public balancer)."""
        ingress = self.ingress
        return {ingress.ui_service} if ingress.enabled and ingress.ui_host else set()

    def check(self, graph: DependencyGraph, *, ingress: bool) -> None:
        """The Ingress's UI route must name a service of the graph that listens on a port."""
        service = self.ingress.ui_service
        if not ingress or service not in self.ingress_services():
            return
        if service not in graph or not graph[service].ports:
            known = ", ".join(sorted(n for n in graph.names if graph[n].ports))
            raise ConfigError("api.ingress.uiService", service, f"known services: {known}")

    def build(
        self,
        platform: Platform,
        graph: DependencyGraph,
        images: ImagesSettings,
        *,
        engine_shards: Sequence[str],
        bus: BusEndpoint,
        database: DatabaseEndpoint | None,
        cache: CacheEndpoint | None,
    ) -> ApiArgs:
        """The tier's args; `engine_shards` are the engine's shard addresses in shard order, the
        endpoints those of the bus and the backend's database and cache."""
        return ApiArgs(
            platform=platform,
            graph=graph,
            backend=self.backend.build(images),
            balancer=self.balancer.build(),
            engine_shards=tuple(engine_shards),
            bus=bus,
            database=database,
            cache=cache,
            ingress=self.ingress.build(graph),
            security_headers=dict(self.security_headers),
        )
