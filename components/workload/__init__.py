"""The workload pattern every tier uses: secure and available by default, overridable per workload.

A `Workload` is a Deployment or StatefulSet with its ServiceAccount (token not mounted), Services,
optional ConfigMap (pods roll when it changes), PodDisruptionBudget, HorizontalPodAutoscaler and
NetworkPolicy. The pure `*_manifest` builders make the objects testable without the Pulumi engine.

One part per module: `platform` (`Platform`: naming, labels, metadata, graph nodes; `Manifest`),
`containers` (resources, probes, mounts, scratch, volume claims, env, security, `Container` and
its manifest, the wait-for init container), `args` (`WorkloadArgs`, `Autoscaling`,
`ServiceSpec`), `pod` (pod template, Deployment/StatefulSet spec, config checksum, OpenTelemetry
env), `component` (the `Workload` resource, Service ports, the autoscaler spec, scrape targets).
"""

from components.workload.args import Autoscaling, ServiceSpec, WorkloadArgs
from components.workload.component import (
    Workload,
    autoscaler_spec,
    scrape_targets,
    service_ports,
)
from components.workload.containers import (
    DEFAULT_UID,
    Container,
    EnvValue,
    FieldEnv,
    Mount,
    Probe,
    Probes,
    Resources,
    Scratch,
    SecretEnv,
    Security,
    VolumeClaim,
    container_manifest,
    http_probes,
    wait_for_container,
)
from components.workload.platform import Manifest, Platform
from components.workload.pod import config_checksum, otel_env, pod_template, workload_spec

__all__ = [
    "DEFAULT_UID",
    "Autoscaling",
    "Container",
    "EnvValue",
    "FieldEnv",
    "Manifest",
    "Mount",
    "Platform",
    "Probe",
    "Probes",
    "Resources",
    "Scratch",
    "SecretEnv",
    "Security",
    "ServiceSpec",
    "VolumeClaim",
    "Workload",
    "WorkloadArgs",
    "autoscaler_spec",
    "config_checksum",
    "container_manifest",
    "http_probes",
    "otel_env",
    "pod_template",
    "scrape_targets",
    "service_ports",
    "wait_for_container",
    "workload_spec",
]
