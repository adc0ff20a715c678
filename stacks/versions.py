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
    # The HFT stack's own images (seed 002); `engine.image` / `api.backend.image` override them.
    "hftEngine": "hft-engine:0.1.0",
    "hftBackend": "hft-backend:0.1.0",
    # The platform's own application images (ui tier). Seed 000 tagged them YYYYMMDD-HHMMSS;
    # these are the pinned defaults, `ui.images.{registry,tag}` override them (the deploy
    # script sets the tag to the git commit).
    "monitorApi": "aegistrader-monitor-api:0.1.0",
    "monitorUi": "aegistrader-monitor-ui:0.1.0",
    "operatorUi": "aegistrader-operator-ui:0.1.0",
}

# Default tag of the EAFIX trading-service images (`eafix-<service>`, named in
# stacks/catalogue.yaml); `tradingServices.images.{registry,tag}` override it.
EAFIX_TAG = "0.1.0"

CHARTS: dict[str, dict[str, str]] = {
    # 88.0.0-90.2.0 ship prometheus-operator v0.93.0, the CRDs the tests validate against
    # (../shared/crds/prometheus-operator-v0.93.0); 91.0.0 moves to v0.94.
    "kube-prometheus-stack": {
        "repo": "https://prometheus-community.github.io/helm-charts",
        "version": "90.2.0",
    },
    # Collector 0.163.2 (exporters named otlp_grpc / otlp_http since collector 0.144).
    "opentelemetry-collector": {
        "repo": "https://open-telemetry.github.io/opentelemetry-helm-charts",
        "version": "0.177.0",
    },
    "loki": {"repo": "https://grafana.github.io/helm-charts", "version": "6.44.0"},
    # Istio base, cni, istiod, gateway and ztunnel share one version: the CRDs the tests validate
    # against (../shared/crds/istio-1.30.3).
    "istio": {"repo": "https://istio-release.storage.googleapis.com/charts", "version": "1.30.3"},
}
# The collector distribution the opentelemetry-collector chart runs (tag: the chart's
# appVersion); contrib carries the prometheus, elasticsearch and k8sattributes components.
OTEL_COLLECTOR_IMAGE = "otel/opentelemetry-collector-contrib"

# The end-to-end tools (scripts/e2e-tools.sh builds them from Go modules into a cache outside the
# repository). The Go module proxy here serves only some versions; each line says what it serves.
E2E_TOOLS: dict[str, str] = {
    # pkg/v3 v3.272.0 (the Python SDK's version) is not served; v3.274.1 is the nearest newer.
    "PULUMI_VERSION": "3.274.1",
    # provider/v4 has no tagged versions; the only pseudo-version served is the v4.25.0 release
    # commit, so the e2e uses it from PATH beside the 4.34.2 SDK (the engine warns and proceeds).
    "KUBERNETES_PROVIDER_MODULE_VERSION": "v4.0.0-20260115033456-f47bc2d6f199",
    "KUBERNETES_PROVIDER_VERSION": "4.25.0",
    "KUBERNETES_VERSION": "1.35.4",
    "ETCD_VERSION": "3.6.16",
    "KWOK_VERSION": "0.8.0",
}


if __name__ == "__main__":  # `python3 stacks/versions.py` prints the e2e pins for shell scripts
    for key, value in E2E_TOOLS.items():
        print(f"{key}={value}")
