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

One part per module: `nodes` (names and graph nodes), `args` (typed args, grouped as the `api`
settings are), `backend`, `balancer` (with its `nginx.conf.tmpl` beside it), `ingress`,
`component`.
"""

from components.api.args import (
    ApiArgs,
    BackendArgs,
    BalancerArgs,
    IngressArgs,
    IngressBackend,
    IngressRateLimit,
    IngressTls,
)
from components.api.backend import backend_env
from components.api.balancer import nginx_conf
from components.api.component import Api
from components.api.nodes import api_nodes

__all__ = [
    "Api",
    "ApiArgs",
    "BackendArgs",
    "BalancerArgs",
    "IngressArgs",
    "IngressBackend",
    "IngressRateLimit",
    "IngressTls",
    "api_nodes",
    "backend_env",
    "nginx_conf",
]
