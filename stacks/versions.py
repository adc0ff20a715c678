"""Every image tag and Helm chart version the platform deploys, pinned in this one place.

Python package pins live in requirements*.txt. Bump a pin here, run the tests and the render,
and review the diff of `rendered/`.
"""

from __future__ import annotations

from typing import Any

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
    # The platform's own application images, as `repository:pinned tag`: the stack's `images`
    # setting puts its registry in front and its tag in place of the pin (the deploy workflows
    # set the git commit; seed 000 tagged them YYYYMMDD-HHMMSS). The HFT stack's (seed 002):
    "hftEngine": "hft-engine:0.1.0",
    "hftBackend": "hft-backend:0.1.0",
    # The aegis monitor (seed 000) and the operator frontend (seed 004):
    "monitorApi": "aegistrader-monitor-api:0.1.0",
    "monitorUi": "aegistrader-monitor-ui:0.1.0",
    "operatorUi": "aegistrader-operator-ui:0.1.0",
}

# Pinned tag of the EAFIX trading-service images (each named as its service, seed 001's
# ghcr.io/dicky1987/eafix-modular/<service>:<tag>); `images.tag` replaces it.
EAFIX_TAG = "0.1.0"

CHARTS: dict[str, dict[str, str]] = {
    # Evidence for every pin: the chart's Chart.yaml at its release tag in the upstream
    # repository (a tag exists only for a published release).
    #
    # kube-prometheus-stack 88.5.3: tag `kube-prometheus-stack-88.5.3` (2026-08-21) of
    # prometheus-community/helm-charts, the newest release in that repository's snapshot of
    # 2026-08-22 (90.2.0, the previous pin, has no tag there). appVersion v0.93.1
    # (prometheus-operator); the spec of its PodMonitor, ServiceMonitor and PrometheusRule CRDs is
    # identical to v0.93.0's in ../shared/crds/prometheus-operator-v0.93.0, which the tests
    # validate against (only the `operator.prometheus.io/version` annotation differs).
    "kube-prometheus-stack": {
        "repo": "https://prometheus-community.github.io/helm-charts",
        "version": "88.5.3",
        "appVersion": "v0.93.1",
    },
    # opentelemetry-collector 0.170.0: tag `opentelemetry-collector-0.170.0` of
    # open-telemetry/opentelemetry-helm-charts, the newest release in its snapshot of 2026-08-20
    # (0.177.0 has no tag). appVersion 0.158.0: the image is
    # otel/opentelemetry-collector-contrib:0.158.0. Exporters are named otlp_grpc / otlp_http
    # (collector 0.144+); the filelog receiver is `file_log` since contrib 0.149.0 (the chart's
    # UPGRADING.md, "0.167.0 to 0.168.0").
    "opentelemetry-collector": {
        "repo": "https://open-telemetry.github.io/opentelemetry-helm-charts",
        "version": "0.170.0",
        "appVersion": "0.158.0",
    },
    # loki 6.44.0: tag `helm-loki-6.44.0` (2025-10-23) of grafana/loki, appVersion 3.5.7,
    # published to grafana.github.io/helm-charts (the OSS chart moved to
    # grafana-community/helm-charts in March 2026, forked at 6.55.0; older releases stay).
    "loki": {
        "repo": "https://grafana.github.io/helm-charts",
        "version": "6.44.0",
        "appVersion": "3.5.7",
    },
    # prometheus-adapter 5.3.0: tag `prometheus-adapter-5.3.0` (2026-02-19) of
    # prometheus-community/helm-charts, still the chart's version at the 2026-08-22 snapshot;
    # appVersion v0.12.0 (registry.k8s.io/prometheus-adapter/prometheus-adapter:v0.12.0).
    "prometheus-adapter": {
        "repo": "https://prometheus-community.github.io/helm-charts",
        "version": "5.3.0",
        "appVersion": "v0.12.0",
    },
    # Istio base, cni, istiod, gateway and ztunnel share one version: the CRDs the tests validate
    # against (../shared/crds/istio-1.30.3).
    "istio": {"repo": "https://istio-release.storage.googleapis.com/charts", "version": "1.30.3"},
}
# `appVersion` is what each chart runs (its Chart.yaml at the tag): the image tag the chart
# defaults to, which this program leaves to the chart so a version override stays consistent.
# The collector distribution the opentelemetry-collector chart runs (tag: the chart's
# appVersion); contrib carries the prometheus, elasticsearch and k8sattributes components.
OTEL_COLLECTOR_IMAGE = "otel/opentelemetry-collector-contrib"

# CRDs of add-ons the platform declares objects of but does not install (cert-manager's
# Certificate for the mesh gateway). scripts/addon-crds.sh takes them from the published Go
# module of the add-on into a cache outside the repository, for the schema tests and the e2e.
ADDON_CRDS: dict[str, dict[str, Any]] = {
    "cert-manager": {
        "module": "github.com/cert-manager/cert-manager",
        "version": "v1.21.1",
        "group": "cert-manager.io",
        "files": ["deploy/crds/cert-manager.io_certificates.yaml"],
    },
}

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
