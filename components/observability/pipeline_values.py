"""Values of the telemetry pipeline charts: the OpenTelemetry collector gateway, the log agent,
and Loki; plus where logs are read from (Grafana's data sources)."""

from __future__ import annotations

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


PROCESSORS: Manifest = {
    # Refuse data before the pod is OOM-killed, then batch what is accepted.
    "memory_limiter": {
        "check_interval": "1s",
        "limit_percentage": 80,
        "spike_limit_percentage": 25,
    },
    "batch": {"send_batch_size": 8192, "timeout": "5s"},
}
PIPELINE_PROCESSORS = ["memory_limiter", "batch"]
# The log agent's receiver (the chart's logsCollection preset), as collector-contrib >= 0.149.0
# names it (`filelog` before).
LOG_RECEIVER = "file_log"


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

    return {
        **logs_client_values(args),
        "mode": "deployment",
        "fullnameOverride": args.names.collector,
        # The kubernetesAttributes preset's processor as `k8s_attributes` (its current name).
        "rewriteDeprecatedComponentNames": True,
        "image": {"repository": c.image_repository},
        "command": {"name": "otelcol-contrib"},
        "replicaCount": c.replicas,
        "resources": c.resources.manifest(),
        "securityContext": RESTRICTED_CONTAINER,
        "presets": {"kubernetesAttributes": {"enabled": True}},
        "ports": {
            "otlp": {"enabled": True},
            "otlp-http": {"enabled": True},
            "jaeger-compact": {"enabled": False},
            "jaeger-thrift": {"enabled": False},
            "jaeger-grpc": {"enabled": False},
            "zipkin": {"enabled": False},
            "metrics": {"enabled": True},
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
            "processors": PROCESSORS,
            "exporters": exporters,
            "service": {
                "pipelines": {
                    "metrics": pipeline("prometheus"),
                    "traces": pipeline(traces_id),
                    "logs": pipeline(logs_id),
                }
            },
        },
    }


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
    values: Manifest = {
        "mode": "daemonset",
        "fullnameOverride": args.names.agent,
        "rewriteDeprecatedComponentNames": True,
        "image": {"repository": args.collector.image_repository},
        "command": {"name": "otelcol-contrib"},
        "resources": args.logs.agent_resources.manifest(),
        "securityContext": {**RESTRICTED_CONTAINER, "runAsNonRoot": False, "runAsUser": 0},
        "tolerations": [{"operator": "Exists"}],
        "presets": {
            "logsCollection": {"enabled": True, "includeCollectorLogs": False},
            "kubernetesAttributes": {"enabled": True},
        },
        "ports": {
            name: {"enabled": False}
            for name in (
                "otlp",
                "otlp-http",
                "jaeger-compact",
                "jaeger-thrift",
                "jaeger-grpc",
                "zipkin",
                "metrics",
            )
        },
        "config": {
            "processors": PROCESSORS,
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
    }
    values.update(logs_client_values(args))
    return values


def loki_values(args: ObservabilityArgs) -> Manifest:
    """Loki as one pod (SingleBinary) on a filesystem volume, with retention; no caches, canary,
    gateway or object store, which a laptop does not need."""
    logs = args.logs
    assert logs.loki_resources is not None and logs.loki_storage_size is not None
    return {
        "fullnameOverride": args.names.loki,
        "deploymentMode": "SingleBinary",
        "loki": {
            "auth_enabled": False,
            "commonConfig": {"replication_factor": 1},
            "storage": {"type": "filesystem"},
            "schemaConfig": {
                "configs": [
                    {
                        "from": "2024-04-01",
                        "store": "tsdb",
                        "object_store": "filesystem",
                        "schema": "v13",
                        "index": {"prefix": "loki_index_", "period": "24h"},
                    }
                ]
            },
            "limits_config": {
                "retention_period": logs.retention,
                "allow_structured_metadata": True,
                "volume_enabled": True,
            },
            "compactor": {"retention_enabled": True, "delete_request_store": "filesystem"},
        },
        "singleBinary": {
            "replicas": 1,
            "resources": logs.loki_resources.manifest(),
            "persistence": {"enabled": True, "size": logs.loki_storage_size},
        },
        "read": {"replicas": 0},
        "write": {"replicas": 0},
        "backend": {"replicas": 0},
        "gateway": {"enabled": False},
        "chunksCache": {"enabled": False},
        "resultsCache": {"enabled": False},
        "lokiCanary": {"enabled": False},
        "test": {"enabled": False},
        "minio": {"enabled": False},
        "sidecar": {"rules": {"enabled": False}},
    }
