"""The mesh tier's typed args, grouped as the `mesh` settings are (stacks/settings/mesh.py builds
them): what the Istio install needs, the traffic policy of every service, the public gateway."""

from __future__ import annotations

from dataclasses import dataclass

from components.graph import DependencyGraph
from components.workload import Platform, Resources


@dataclass(frozen=True)
class IstioInstall:
    """The Istio charts (base, cni, istiod, ztunnel in ambient mode, gateway)."""

    chart_version: str
    chart_repo: str
    istiod_resources: Resources
    # Every sidecar (and the CNI agent and ztunnel, which take the same sizes).
    proxy_resources: Resources
    # Istio chart platform profile (gke, k3s, openshift, ...); None: the charts' defaults.
    platform: str | None
    # istiod's ENABLE_NATIVE_SIDECARS: "auto", "true" or "false".
    native_sidecars: str
    # The stack's cap on every autoscaler's maximum (cluster.maxReplicasCap), applied to the
    # HorizontalPodAutoscalers the istiod and gateway charts create; None: the charts' own.
    max_replicas_cap: int | None


@dataclass(frozen=True)
class CircuitBreaker:
    max_connections: int
    http1_max_pending_requests: int
    http2_max_requests: int
    max_requests_per_connection: int
    consecutive_5xx_errors: int
    interval: str
    base_ejection_time: str
    max_ejection_percent: int


@dataclass(frozen=True)
class Retries:
    attempts: int
    per_try_timeout: str
    retry_on: str


@dataclass(frozen=True)
class Traffic:
    """Seed 001's traffic policy: per-route timeout and retries, per-service circuit breaker."""

    timeout: str
    retries: Retries
    circuit_breaker: CircuitBreaker


@dataclass(frozen=True)
class Route:
    host: str
    prefix: str
    service: str


@dataclass(frozen=True)
class Issuer:
    """The cert-manager issuer that signs the gateway's certificate."""

    kind: str  # ClusterIssuer, or Issuer (then in the gateway's namespace)
    name: str


@dataclass(frozen=True)
class RateLimit:
    """Envoy's local rate limit on each gateway replica: a token bucket refilled with `rps`
    tokens every second, holding at most `rps * burst_multiplier`."""

    rps: int
    burst_multiplier: int


@dataclass(frozen=True)
class GatewayArgs:
    """The public entry: the Istio ingress gateway and what it serves."""

    # The gateway's namespace (its pods, its credential Secret, its EnvoyFilter).
    namespace: str
    resources: Resources
    # The TLS Secret in `namespace` every host is served with.
    tls_credential_name: str
    routes: tuple[Route, ...]
    service_type: str
    # Wait (atomically) for the gateway release to be ready, at most `wait_timeout` seconds.
    wait: bool
    wait_timeout: int
    # cert-manager issues `tls_credential_name` for every public host; None: the Secret is
    # provided some other way (created by hand, synced from a vault).
    issuer: Issuer | None
    # One limit on the gateway for every public host; None: no limit.
    rate_limit: RateLimit | None
    # Set on every response of every public host (plus HSTS); empty: none.
    security_headers: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class MeshArgs:
    platform: Platform
    graph: DependencyGraph
    # The platform's namespace (its services, policies and routes).
    namespace: str
    mode: str
    mtls_mode: str
    # Where istiod runs (sidecars fetch configuration from it), installed or not.
    system_namespace: str
    traffic: Traffic
    gateway: GatewayArgs
    # None: the cluster already runs Istio; only the platform's Istio objects are declared.
    install: IstioInstall | None
