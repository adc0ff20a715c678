"""Values of the kube-prometheus-stack chart (Prometheus, Alertmanager, Grafana, the operator,
kube-state-metrics) and of the prometheus-adapter chart."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path

import yaml

from components.datafiles import read_yaml
from components.merge import deep_merge
from components.observability.args import (
    DASHBOARD_FOLDER_ANNOTATION,
    DASHBOARD_LABEL,
    DATA_DIR,
    GRAFANA_PORT,
    RESTRICTED_CONTAINER,
    SEVERITIES,
    ObservabilityArgs,
    Receiver,
    StackSizing,
    load_adapter_rules,
)
from components.observability.pipeline_values import grafana_logs_access, log_datasources
from components.quantities import parse_bytes
from components.workload import Manifest


def _retention_size(storage: str) -> str:
    """Prometheus' size cap at 85% of its volume, so a burst cannot fill the disk."""
    mib = Decimal(parse_bytes(storage)) * Decimal("0.85") / 2**20
    return f"{int(mib // 1024)}GB" if mib >= 1024 else f"{int(mib)}MB"


ALERTMANAGER_SECRETS_DIR = "/etc/alertmanager/secrets"
NULL_RECEIVER = "null"
ALERTMANAGER_RECEIVERS_FILE = DATA_DIR / "alertmanager.yaml"


def _receiver_config(receiver: Receiver) -> Manifest:
    path = f"{ALERTMANAGER_SECRETS_DIR}/{receiver.secret}/{receiver.key}"
    if receiver.type == "pagerduty":
        return {"pagerduty_configs": [{"routing_key_file": path, "send_resolved": True}]}
    if receiver.type == "slack":
        slack: Manifest = {"api_url_file": path, "send_resolved": True}
        if receiver.channel:
            slack["channel"] = receiver.channel
        return {"slack_configs": [slack]}
    return {"webhook_configs": [{"url_file": path, "send_resolved": True}]}


def alertmanager_config(receivers: Sequence[Receiver], path: Path | None = None) -> Manifest:
    """The static part (grouping, timing, inhibition) is `alertmanager.yaml` beside this module;
    each receiver gets one route per severity it takes (`continue`, so several receivers may take
    one severity). Unmatched alerts go to the `null` receiver (visible in the UI only)."""
    base = yaml.safe_load((path or ALERTMANAGER_RECEIVERS_FILE).read_text())
    routes: list[Manifest] = list(base["route"].get("routes") or [])
    for severity in SEVERITIES:
        for receiver in receivers:
            if severity in receiver.severities:
                routes.append(
                    {
                        "receiver": receiver.name,
                        "matchers": [f'severity="{severity}"'],
                        "continue": True,
                        **(base.get("repeat_by_severity") or {}).get(severity, {}),
                    }
                )
    return {
        "global": base["global"],
        "route": {**base["route"], "receiver": NULL_RECEIVER, "routes": routes},
        "inhibit_rules": base["inhibit_rules"],
        "receivers": [{"name": NULL_RECEIVER}]
        + [{"name": r.name, **_receiver_config(r)} for r in receivers],
        "templates": base.get("templates") or [],
    }


def crd_upgrade_job_values(s: StackSizing) -> Manifest:
    """The chart's CRD upgrade Job (a pre-install/pre-upgrade/pre-rollback hook): unpacks the
    chart's CRDs (busybox) and `kubectl apply --server-side --force-conflicts` them, so moving the
    pin moves the CRDs with the operator; kubectl's tag follows the cluster's version."""
    if not s.crd_upgrade_job:
        return {"enabled": False}
    return {
        "enabled": True,
        "forceConflicts": True,
        "image": {"busybox": {"tag": s.busybox_tag}},
        "resources": s.webhook_job_resources.manifest(),
        "containerSecurityContext": RESTRICTED_CONTAINER,
    }


def kube_prometheus_stack_values(args: ObservabilityArgs) -> Manifest:
    """The static values (`values/kube-prometheus-stack.yaml`) with names, sizes and switches."""
    names, p, s = args.names, args.prometheus, args.stack
    cp, ne = s.control_plane, s.node_exporter
    prometheus: Manifest = {
        "replicas": p.replicas,
        "retention": p.retention,
        "scrapeInterval": p.scrape_interval,
        "resources": p.resources.manifest(),
    }
    if p.storage_size:
        claim: Manifest = {
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": p.storage_size}},
        }
        if p.storage_class:
            claim["storageClassName"] = p.storage_class
        prometheus["storageSpec"] = {"volumeClaimTemplate": {"spec": claim}}
        prometheus["retentionSize"] = _retention_size(p.storage_size)
    grafana: Manifest = {
        "fullnameOverride": names.grafana,
        "admin": {"existingSecret": names.grafana_admin_secret},
        "resources": s.grafana_resources.manifest(),
        # The container listens on targetPort (the chart's containerPort); the Service on port.
        "service": {"port": GRAFANA_PORT, "targetPort": GRAFANA_PORT},
        "sidecar": {
            "resources": s.grafana_sidecar_resources.manifest(),
            "dashboards": {
                "label": DASHBOARD_LABEL[0],
                "labelValue": DASHBOARD_LABEL[1],
                "folderAnnotation": DASHBOARD_FOLDER_ANNOTATION,
            },
        },
    }
    datasources = log_datasources(args)
    if datasources:
        grafana["additionalDataSources"] = datasources
        grafana.update(grafana_logs_access(args))
    derived: Manifest = {
        "fullnameOverride": names.stack,
        "crds": {"upgradeJob": crd_upgrade_job_values(s)},
        "defaultRules": {
            "rules": {
                "etcd": cp,
                "kubeControllerManager": cp,
                "kubeSchedulerAlerting": cp,
                "kubeSchedulerRecording": cp,
                "kubeProxy": cp,
                "nodeExporterAlerting": ne,
                "nodeExporterRecording": ne,
            },
        },
        "kubeEtcd": {"enabled": cp},
        "kubeControllerManager": {"enabled": cp},
        "kubeScheduler": {"enabled": cp},
        "kubeProxy": {"enabled": cp},
        "nodeExporter": {"enabled": ne},
        "prometheus-node-exporter": {"resources": s.node_exporter_resources.manifest()},
        "kube-state-metrics": {
            "fullnameOverride": names.kube_state_metrics,
            "resources": s.kube_state_metrics_resources.manifest(),
        },
        "prometheusOperator": {
            "resources": s.operator_resources.manifest(),
            "prometheusConfigReloader": {"resources": s.reloader_resources.manifest()},
            "admissionWebhooks": {"patch": {"resources": s.webhook_job_resources.manifest()}},
        },
        "prometheus": {"prometheusSpec": prometheus},
        "alertmanager": {
            "config": alertmanager_config(s.receivers),
            "alertmanagerSpec": {
                "replicas": s.alertmanager_replicas,
                "retention": s.alertmanager_retention,
                "resources": s.alertmanager_resources.manifest(),
                # Mounted at /etc/alertmanager/secrets/<name>/<key> by the operator.
                "secrets": sorted({r.secret for r in s.receivers}),
            },
        },
        "grafana": grafana,
    }
    return deep_merge(read_yaml(__file__, "values/kube-prometheus-stack.yaml"), derived)


def metrics_adapter_values(args: ObservabilityArgs) -> Manifest:
    """prometheus-adapter with exactly the rules the autoscalers need (no default rules, no
    resource metrics: metrics-server keeps metrics.k8s.io), reading the installed Prometheus."""
    spec = args.metrics_adapter
    assert spec is not None
    rules = load_adapter_rules(args.adapter_rules_file)
    missing = [m for m in spec.custom if m not in rules.custom] + [
        m for m in spec.external if m not in rules.external
    ]
    if missing:
        raise ValueError(f"no metrics adapter rule serves {', '.join(missing)}")
    values: Manifest = {
        "fullnameOverride": args.names.metrics_adapter,
        "replicas": spec.replicas,
        "resources": spec.resources.manifest(),
        "prometheus": {
            "url": f"http://{args.names.prometheus_service}.{args.namespace}.svc",
            "port": 9090,
        },
        "rules": {
            "default": False,
            "custom": [rules.custom[m] for m in sorted(spec.custom)],
            "external": [rules.external[m] for m in sorted(spec.external)],
        },
    }
    if spec.replicas >= 2:
        values["podDisruptionBudget"] = {"enabled": True, "maxUnavailable": 1}
    # Without it the chart's APIServices set insecureSkipTLSVerify.
    values["certManager"] = {"enabled": spec.cert_manager}
    return values
