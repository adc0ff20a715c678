"""The API tier's typed args, grouped as the `api` settings are (stacks/settings/api.py builds
them): the backend, the balancer, the optional Ingress with its TLS and rate limits."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from components.endpoints import BusEndpoint, CacheEndpoint, DatabaseEndpoint
from components.graph import DependencyGraph
from components.workload import Autoscaling, Platform, Resources


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
