"""Settings of the `mesh` key: Istio install, enrolment, traffic and circuit breakers."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, BeforeValidator, Field, model_validator

from components.graph import DependencyGraph
from components.mesh import (
    CircuitBreaker,
    GatewayArgs,
    Issuer,
    IstioInstall,
    MeshArgs,
    RateLimit,
    Retries,
    Route,
    Traffic,
)
from components.workload import Platform
from stacks.settings.types import DnsLabel, Model, NamespaceName, ResourceSettings, positive
from stacks.versions import CHARTS

_DURATION = re.compile(r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$")
_HOST = re.compile(r"^(\*\.)?([a-z0-9]([-a-z0-9]*[a-z0-9])?\.)+[a-z]{2,63}$")
_VERSION = re.compile(r"^\d+\.\d+\.\d+$")


def _duration(value: str) -> str:
    if not _DURATION.match(value):
        raise ValueError("must be a duration such as 500ms, 5s, 1m or 1h30m")
    return value


def _host(value: str) -> str:
    if not _HOST.match(value) or len(value) > 253:
        raise ValueError("must be a DNS name such as api.trading.example.com (optionally *.)")
    return value


def _percent(value: int) -> int:
    if not 0 <= value <= 100:
        raise ValueError("must be a percentage between 0 and 100")
    return value


def _non_negative(value: int) -> int:
    if value < 0:
        raise ValueError("must be zero or more")
    return value


def _version(value: str) -> str:
    if not _VERSION.match(value):
        raise ValueError("must be an exact chart version such as 1.30.3")
    return value


def _repo(value: str) -> str:
    if not re.match(r"^(https|oci)://[^\s/]+", value):
        raise ValueError("must be a Helm repository URL starting with https:// or oci://")
    return value


def _wait_seconds(value: int) -> int:
    if not 30 <= value <= 3600:
        raise ValueError("must be a number of seconds between 30 and 3600")
    return value


def _as_flag_text(value: object) -> object:
    # YAML reads `nativeSidecars: true` as a boolean; istiod's variable takes the text.
    return str(value).lower() if isinstance(value, bool) else value


Duration = Annotated[str, AfterValidator(_duration)]
Count = Annotated[int, AfterValidator(_non_negative)]
# The platform profiles the pinned Istio charts ship (files/profile-platform-<name>.yaml in the
# base, cni, istiod, gateway and ztunnel charts of Istio 1.30.3); any other name fails the install.
NativeSidecarMode = Annotated[Literal["auto", "true", "false"], BeforeValidator(_as_flag_text)]
IstioPlatform = Literal["gke", "k3d", "k3s", "microk8s", "minikube", "openshift"]


class CircuitBreakerSettings(Model):
    """Seed 001's circuit breakers: connection pools and outlier detection per service."""

    max_connections: Annotated[int, positive()]
    http1_max_pending_requests: Annotated[int, positive()]
    http2_max_requests: Annotated[int, positive()]
    max_requests_per_connection: Count
    consecutive_5xx_errors: Annotated[int, positive(), Field(alias="consecutive5xxErrors")]
    interval: Duration
    base_ejection_time: Duration
    max_ejection_percent: Annotated[int, AfterValidator(_percent)]

    def build(self) -> CircuitBreaker:
        return CircuitBreaker(
            max_connections=self.max_connections,
            http1_max_pending_requests=self.http1_max_pending_requests,
            http2_max_requests=self.http2_max_requests,
            max_requests_per_connection=self.max_requests_per_connection,
            consecutive_5xx_errors=self.consecutive_5xx_errors,
            interval=self.interval,
            base_ejection_time=self.base_ejection_time,
            max_ejection_percent=self.max_ejection_percent,
        )


class RetrySettings(Model):
    attempts: Count
    per_try_timeout: Duration
    retry_on: str = "connect-failure,refused-stream,unavailable,cancelled,5xx"

    def build(self) -> Retries:
        return Retries(self.attempts, self.per_try_timeout, self.retry_on)


class RouteSettings(Model):
    """One public route: requests for `host` under `prefix` go to graph service `service`."""

    host: Annotated[str, AfterValidator(_host)]
    prefix: str = "/"
    service: str


class IssuerSettings(Model):
    """The cert-manager issuer that signs the gateway's certificate."""

    # Issuer: a namespaced issuer, which must then live in mesh.ingressNamespace.
    kind: Literal["ClusterIssuer", "Issuer"] = "ClusterIssuer"
    name: DnsLabel


class GatewayRateLimitSettings(Model):
    """Envoy's local rate limit on the gateway: each replica refills `rps` tokens a second into
    a bucket of `rps * burstMultiplier`; a request without a token gets 429. One bucket per
    replica for all public hosts (not per client address)."""

    rps: Annotated[int, positive("requests per second")]
    burst_multiplier: Annotated[int, positive("a multiplier")]


class GatewaySettings(Model):
    # The TLS Secret in mesh.ingressNamespace the gateway serves every host with.
    tls_credential_name: DnsLabel | None
    # cert-manager issues tlsCredentialName for every public host (a Certificate in
    # mesh.ingressNamespace); null: the Secret is provided another way (by hand, a secret store).
    issuer: IssuerSettings | None
    routes: list[RouteSettings]
    # One limit for every public host (seed 001's ingress rate limiting); null: none.
    rate_limit: GatewayRateLimitSettings | None
    # api.securityHeaders plus HSTS on every response of every public host (seed 001).
    security_headers: bool = True
    # The gateway Service's type. LoadBalancer needs a load-balancer controller (cloud, MetalLB,
    # cloud-provider-kind) to hand out an address; ClusterIP (kubectl port-forward, or an external
    # balancer in front) where none. NodePort is refused, as for every Service (policy pack).
    service_type: Literal["LoadBalancer", "ClusterIP"]
    # true: the release waits for the gateway's pods and, for a LoadBalancer, its address, and
    # rolls back after waitTimeout; false: done once applied (the address may come later).
    wait: bool
    wait_timeout: Annotated[int, AfterValidator(_wait_seconds)] = 600

    @model_validator(mode="after")
    def _tls(self) -> GatewaySettings:
        if not self.tls_credential_name:
            raise ValueError(
                "tlsCredentialName must name the TLS Secret in the gateway's namespace; "
                "the gateway serves HTTPS only"
            )
        return self

    def build(
        self, namespace: str, resources: ResourceSettings, security_headers: dict[str, str]
    ) -> GatewayArgs:
        """`security_headers`: the API's (api.securityHeaders), sent on every public host."""
        issuer, limit = self.issuer, self.rate_limit
        return GatewayArgs(
            namespace=namespace,
            resources=resources.build(),
            tls_credential_name=self.tls_credential_name or "",
            routes=tuple(Route(r.host, r.prefix, r.service) for r in self.routes),
            service_type=self.service_type,
            wait=self.wait,
            wait_timeout=self.wait_timeout,
            issuer=Issuer(issuer.kind, issuer.name) if issuer else None,
            rate_limit=RateLimit(limit.rps, limit.burst_multiplier) if limit else None,
            security_headers=tuple(security_headers.items()) if self.security_headers else (),
        )


class MeshSettings(Model):
    enabled: bool
    # False: the cluster already runs Istio; only the platform's Istio objects are declared.
    install: bool
    mode: Literal["sidecar", "ambient"] = "sidecar"
    mtls_mode: Literal["STRICT", "PERMISSIVE"] = "STRICT"
    chart_version: Annotated[str, AfterValidator(_version)] = CHARTS["istio"]["version"]
    chart_repo: Annotated[str, AfterValidator(_repo)] = CHARTS["istio"]["repo"]
    # The cluster's platform for the Istio charts (CNI paths, OpenShift's multus and SELinux);
    # unset for kind, OrbStack and clusters with the standard /opt/cni/bin and /etc/cni/net.d.
    platform: IstioPlatform | None = None
    # istiod's ENABLE_NATIVE_SIDECARS: auto (Istio's default) injects native sidecars only when
    # every node's kubelet is 1.33 or newer; true forces them (Kubernetes 1.29+ only; Jobs in the
    # mesh finish only with native sidecars); false never.
    native_sidecars: NativeSidecarMode = "auto"
    system_namespace: NamespaceName = "istio-system"
    ingress_namespace: NamespaceName = "istio-ingress"
    istiod_resources: ResourceSettings
    gateway_resources: ResourceSettings
    proxy_resources: ResourceSettings
    # Services kept out of the mesh (e.g. NATS routes, the engine's UDP feed), by graph name or
    # Kubernetes component (the balancer is `balancer` or `nginx`), or the prefix of either
    # before `-<n>` (`hft-engine`: every shard). Both their sidecar and their policy go.
    opt_out: list[str]
    timeout: Duration
    retries: RetrySettings
    circuit_breaker: CircuitBreakerSettings
    gateway: GatewaySettings

    def build(
        self,
        platform: Platform,
        graph: DependencyGraph,
        *,
        namespace: str,
        security_headers: dict[str, str],
        max_replicas_cap: int | None,
    ) -> MeshArgs:
        """The tier's args; `max_replicas_cap` is cluster.maxReplicasCap (the charts' HPAs)."""
        return MeshArgs(
            platform=platform,
            graph=graph,
            namespace=namespace,
            mode=self.mode,
            mtls_mode=self.mtls_mode,
            system_namespace=self.system_namespace,
            traffic=Traffic(
                timeout=self.timeout,
                retries=self.retries.build(),
                circuit_breaker=self.circuit_breaker.build(),
            ),
            gateway=self.gateway.build(
                self.ingress_namespace, self.gateway_resources, security_headers
            ),
            install=IstioInstall(
                chart_version=self.chart_version,
                chart_repo=self.chart_repo,
                istiod_resources=self.istiod_resources.build(),
                proxy_resources=self.proxy_resources.build(),
                platform=self.platform,
                native_sidecars=self.native_sidecars,
                max_replicas_cap=max_replicas_cap,
            )
            if self.install
            else None,
        )
