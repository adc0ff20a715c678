"""Values of the telemetry pipeline charts: the OpenTelemetry collector gateway, the log agent,
and Loki; plus where logs are read from (Grafana's data sources)."""

from __future__ import annotations

from components.datafiles import read_yaml
from components.merge import deep_merge
from components.observability.args import (
    OTLP_GRPC,
    OTLP_HTTP,
    PROMETHEUS_EXPORTER_PORT,
    RESTRICTED_CONTAINER,
    ObservabilityArgs,
)
from components.workload import Manifest


def loki_url(args: ObservabilityArgs) -> str:
    return f"http://{args.names.loki}.{args.namespace}:3100"


def log_datasources(args: ObservabilityArgs) -> list[Manifest]:
    """Grafana datasources for the logs backend (the chart adds Prometheus and Alertmanager)."""
    logs = args.logs
    if logs.backend == "loki":
        return [{"name": "Loki", "uid": "loki", "type": "loki", "url": loki_url(args)}]
    if logs.backend == "elasticsearch" and logs.endpoint:
        source: Manifest = {
            "name": "Elasticsearch",
            "uid": "elasticsearch",
            "type": "elasticsearch",
            "url": logs.endpoint,
            "jsonData": {"index": "logs-*", "timeField": "@timestamp"},
        }
        secure: Manifest = {}
        if logs.credentials_secret:
            # Grafana expands $VAR in provisioning files from its environment (grafana_env).
            source["basicAuth"] = True
            source["basicAuthUser"] = f"${LOGS_USERNAME_ENV}"
            secure["basicAuthPassword"] = f"${LOGS_PASSWORD_ENV}"
        if logs.ca_secret:
            source["jsonData"]["tlsAuthWithCACert"] = True
            secure["tlsCACert"] = f"$__file{{{GRAFANA_LOGS_CA_DIR}/{logs.ca_key}}}"
        if secure:
            source["secureJsonData"] = secure
        return [source]
    return []


GRAFANA_LOGS_CA_DIR = "/etc/grafana/logs-ca"


def grafana_logs_access(args: ObservabilityArgs) -> Manifest:
    """Grafana's environment and mounts for the Elasticsearch datasource's credentials and CA."""
    logs = args.logs
    values: Manifest = {}
    if logs.backend != "elasticsearch":
        return values
    if logs.credentials_secret:
        values["envValueFrom"] = {
            env: {"secretKeyRef": {"name": logs.credentials_secret, "key": key}}
            for env, key in ((LOGS_USERNAME_ENV, "username"), (LOGS_PASSWORD_ENV, "password"))
        }
    if logs.ca_secret:
        values["extraSecretMounts"] = [
            {
                "name": LOGS_CA_VOLUME,
                "secretName": logs.ca_secret,
                "mountPath": GRAFANA_LOGS_CA_DIR,
                "readOnly": True,
            }
        ]
    return values


# Where the collector and the log agent find the logs backend's credentials and CA.
LOGS_USERNAME_ENV, LOGS_PASSWORD_ENV = "ELASTICSEARCH_USERNAME", "ELASTICSEARCH_PASSWORD"
LOGS_CA_VOLUME = "logs-ca"
LOGS_CA_DIR = "/etc/otel/logs-ca"


def logs_exporter(args: ObservabilityArgs) -> tuple[str, Manifest]:
    """The collector exporter (id, config) that ships logs to the configured backend."""
    logs = args.logs
    if logs.backend == "loki":
        # Loki 3 ingests OTLP natively at /otlp.
        return "otlp_http/loki", {"endpoint": f"{loki_url(args)}/otlp"}
    tls: Manifest = {}
    if logs.ca_secret:
        tls["ca_file"] = f"{LOGS_CA_DIR}/{logs.ca_key}"
    if logs.backend == "otlp" and logs.endpoint:
        insecure = not logs.endpoint.startswith("https://")
        return "otlp_grpc/logs", {"endpoint": logs.endpoint, "tls": {"insecure": insecure, **tls}}
    if logs.backend == "elasticsearch" and logs.endpoint:
        config: Manifest = {"endpoints": [logs.endpoint], "logs_index": "logs-trading-platform"}
        if logs.credentials_secret:
            config["user"] = f"${{env:{LOGS_USERNAME_ENV}}}"
            config["password"] = f"${{env:{LOGS_PASSWORD_ENV}}}"
        if tls:
            config["tls"] = tls
        return "elasticsearch", config
    return "debug", {"verbosity": "basic"}


def logs_client_values(args: ObservabilityArgs) -> Manifest:
    """What the collector and the log agent need to reach the logs backend: the credentials as
    environment from their Secret (never in the values) and the CA mounted read-only."""
    logs = args.logs
    values: Manifest = {}
    if logs.credentials_secret:
        values["extraEnvs"] = [
            {
                "name": env,
                "valueFrom": {"secretKeyRef": {"name": logs.credentials_secret, "key": key}},
            }
            for env, key in ((LOGS_USERNAME_ENV, "username"), (LOGS_PASSWORD_ENV, "password"))
        ]
    if logs.ca_secret:
        values["extraVolumes"] = [
            {"name": LOGS_CA_VOLUME, "secret": {"secretName": logs.ca_secret}}
        ]
        values["extraVolumeMounts"] = [
            {"name": LOGS_CA_VOLUME, "mountPath": LOGS_CA_DIR, "readOnly": True}
        ]
    return values


def traces_exporter(args: ObservabilityArgs) -> tuple[str, Manifest]:
    traces = args.traces
    if traces.exporter == "otlp" and traces.endpoint:
        return "otlp_grpc/traces", {
            "endpoint": traces.endpoint,
            "tls": {"insecure": traces.insecure},
        }
    return "debug", {"verbosity": "basic"}


PIPELINE_PROCESSORS = ["memory_limiter", "batch"]
# The log agent's receiver (the chart's logsCollection preset), as collector-contrib >= 0.149.0
# names it (`filelog` before).
LOG_RECEIVER = "file_log"
COLLECTOR_VALUES = "values/opentelemetry-collector.yaml"


def _collector_release_values(role: str, derived: Manifest) -> Manifest:
    """The static values of the `common` and `role` (gateway, agent) parts, then `derived`."""
    static = read_yaml(__file__, COLLECTOR_VALUES)
    return deep_merge(static["common"], static[role], derived)


def collector_values(args: ObservabilityArgs) -> Manifest:
    """The gateway: OTLP in on 4317/4318; metrics out through the `prometheus` exporter
    (scraped by a ServiceMonitor), traces to the configured backend, application logs to the
    logs backend."""
    c = args.collector
    traces_id, traces_config = traces_exporter(args)
    logs_id, logs_config = logs_exporter(args)
    exporters: Manifest = {
        "prometheus": {
            "endpoint": f"${{env:MY_POD_IP}}:{PROMETHEUS_EXPORTER_PORT}",
            "resource_to_telemetry_conversion": {"enabled": True},
        },
        traces_id: traces_config,
        logs_id: logs_config,
    }

    def pipeline(exporter: str) -> Manifest:
        return {"receivers": ["otlp"], "processors": PIPELINE_PROCESSORS, "exporters": [exporter]}

    return _collector_release_values(
        "gateway",
        {
            **logs_client_values(args),
            "fullnameOverride": args.names.collector,
            "image": {"repository": c.image_repository},
            "replicaCount": c.replicas,
            "resources": c.resources.manifest(),
            "securityContext": RESTRICTED_CONTAINER,
            "ports": {
                "prom-exporter": {
                    "enabled": True,
                    "containerPort": PROMETHEUS_EXPORTER_PORT,
                    "servicePort": PROMETHEUS_EXPORTER_PORT,
                    "protocol": "TCP",
                },
            },
            "config": {
                "receivers": {
                    "otlp": {
                        "protocols": {
                            "grpc": {"endpoint": f"${{env:MY_POD_IP}}:{OTLP_GRPC}"},
                            "http": {"endpoint": f"${{env:MY_POD_IP}}:{OTLP_HTTP}"},
                        }
                    }
                },
                "exporters": exporters,
                "service": {
                    "pipelines": {
                        "metrics": pipeline("prometheus"),
                        "traces": pipeline(traces_id),
                        "logs": pipeline(logs_id),
                    }
                },
            },
        },
    )


def agent_values(args: ObservabilityArgs) -> Manifest:
    """The log agent: a collector daemonset tailing /var/log/pods (the chart's logsCollection
    preset), adding pod metadata, shipping to the logs backend. The receiver is `file_log`, its
    name since collector-contrib 0.149.0: the pinned chart (0.170.0) writes the preset as
    `filelog` and renames it, and every pipeline reference, to `file_log` under
    `rewriteDeprecatedComponentNames` (its UPGRADING.md, 0.167.0 to 0.168.0), which is set
    explicitly so the pipeline below names a receiver the config defines. It reads root-owned
    log files, so it runs as UID 0 with every capability dropped and a read-only root
    filesystem."""
    logs_id, logs_config = logs_exporter(args)
    return _collector_release_values(
        "agent",
        {
            "fullnameOverride": args.names.agent,
            "image": {"repository": args.collector.image_repository},
            "resources": args.logs.agent_resources.manifest(),
            "securityContext": {**RESTRICTED_CONTAINER, "runAsNonRoot": False, "runAsUser": 0},
            "config": {
                "exporters": {logs_id: logs_config, "debug": {"verbosity": "basic"}},
                "service": {
                    "pipelines": {
                        "logs": {
                            "receivers": [LOG_RECEIVER],
                            "processors": PIPELINE_PROCESSORS,
                            "exporters": [logs_id],
                        },
                        # The chart's default metrics/traces pipelines, kept minimal.
                        "metrics": {
                            "receivers": ["otlp"],
                            "processors": PIPELINE_PROCESSORS,
                            "exporters": ["debug"],
                        },
                        "traces": {
                            "receivers": ["otlp"],
                            "processors": PIPELINE_PROCESSORS,
                            "exporters": ["debug"],
                        },
                    }
                },
            },
            **logs_client_values(args),
        },
    )


def loki_values(args: ObservabilityArgs) -> Manifest:
    """The static values (`values/loki.yaml`: one pod on a filesystem volume) with the name,
    retention, size and volume."""
    logs = args.logs
    assert logs.loki_resources is not None and logs.loki_storage_size is not None
    return deep_merge(
        read_yaml(__file__, "values/loki.yaml"),
        {
            "fullnameOverride": args.names.loki,
            "loki": {"limits_config": {"retention_period": logs.retention}},
            "singleBinary": {
                "resources": logs.loki_resources.manifest(),
                "persistence": {"size": logs.loki_storage_size},
            },
        },
    )
