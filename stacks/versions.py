"""Every image tag and Helm chart version the platform deploys, pinned in this one place.

Python package pins live in requirements*.txt. Bump a pin here, run the tests and the render,
and review the diff of `rendered/`.
"""

from __future__ import annotations

IMAGES: dict[str, str] = {
    # Seed 000's tested NATS server.
    "nats": "nats:2.11.6-alpine",
    "natsBox": "natsio/nats-box:0.18.0",
    "natsExporter": "natsio/prometheus-nats-exporter:0.17.3",
    # Seed 000's init-container image.
    "busybox": "busybox:1.36",
    "postgres": "postgres:16.9-alpine",
    "timescaledb": "timescale/timescaledb:2.21.0-pg16",
    "postgresExporter": "quay.io/prometheuscommunity/postgres-exporter:v0.17.1",
    "redis": "redis:7.2.10-alpine",
    "redisExporter": "oliver006/redis_exporter:v1.74.0",
    "nginx": "nginxinc/nginx-unprivileged:1.29.1-alpine",
}

CHARTS: dict[str, dict[str, str]] = {}
