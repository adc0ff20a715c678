"""The service mesh tier: Istio installed from its Helm charts, strict mTLS, graph-derived
authorization, seed 001's circuit breakers, and the public gateway.

One part per module: `args` (typed args, grouped as the settings are), `policies` (who may call
whom, circuit breakers, namespace enrolment), `gateway` (the public entry: hosts, TLS,
certificate, security headers, rate limit), `install` (the Istio charts), `component`. Data files
beside them: `gateway-rate-limit.yaml` (Envoy's local rate limit filter) and `values/` (the
charts' static values).
"""

from components.mesh.args import (
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
from components.mesh.component import ServiceMesh
from components.mesh.policies import gateway_entry, namespace_labels

__all__ = [
    "CircuitBreaker",
    "GatewayArgs",
    "Issuer",
    "IstioInstall",
    "MeshArgs",
    "RateLimit",
    "Retries",
    "Route",
    "ServiceMesh",
    "Traffic",
    "gateway_entry",
    "namespace_labels",
]
