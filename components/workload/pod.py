"""The pod template and the Deployment or StatefulSet spec around it: volumes, security, spread
across nodes, mesh opt-out, the config checksum that rolls the pods, OpenTelemetry settings."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import pulumi

from components.workload.args import WorkloadArgs
from components.workload.containers import Container, EnvValue, Mount, container_manifest
from components.workload.platform import Manifest


def config_checksum(values: Mapping[str, Any]) -> str:
    """Stable digest of resolved config values; a change rolls the pods."""
    payload = json.dumps(values, sort_keys=True, default=str).encode()
    return hashlib.sha256(payload).hexdigest()


def otel_env(args: WorkloadArgs) -> dict[str, EnvValue]:
    """OpenTelemetry SDK settings for the main container, when the platform has a collector."""
    if args.platform.otlp_endpoint is None:
        return {}
    return {
        "OTEL_EXPORTER_OTLP_ENDPOINT": args.platform.otlp_endpoint,
        # The endpoint is the collector's gRPC port; SDKs default to HTTP otherwise.
        "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
        "OTEL_SERVICE_NAME": args.component,
        "OTEL_RESOURCE_ATTRIBUTES": f"service.namespace={args.platform.release}",
    }


def pod_template(args: WorkloadArgs, checksum: pulumi.Input[str] | None) -> Manifest:
    """The pod template: labels are the selector only, so adopting Helm's pods restarts nothing."""
    platform = args.platform
    config_map = args.name if args.config else None
    scratch_mounts = tuple(Mount(s.name, s.path) for s in args.scratch)
    claim_mounts = tuple(Mount(c.name, c.path, c.sub_path) for c in args.volume_claims)
    main_mounts = scratch_mounts + claim_mounts + args.main.mounts
    if args.config and args.config_mount:
        main_mounts += (Mount("config", args.config_mount, read_only=True),)
    main = replace(args.main, mounts=main_mounts, env={**otel_env(args), **args.main.env})

    def build(c: Container) -> Manifest:
        return container_manifest(c, args.security, platform.image_pull_policy, config_map)

    volumes = [s.volume() for s in args.scratch]
    if args.config and args.config_mount:
        volumes.append({"name": "config", "configMap": {"name": config_map}})
    volumes.extend(args.extra_volumes)
    # A container may mount only what the pod has (e.g. an init container the pod's `tmp`).
    known = {v["name"] for v in volumes} | {c.name for c in args.volume_claims}
    for c in (main, *args.sidecars, *args.init_containers):
        for mount in c.mounts:
            if mount.volume not in known:
                raise ValueError(
                    f"{args.name}: container {c.name} mounts {mount.volume!r}; "
                    f"the pod's volumes are {', '.join(sorted(known))}"
                )

    spec: Manifest = {
        "serviceAccountName": args.name,
        "automountServiceAccountToken": args.automount_token,
        "enableServiceLinks": False,
        "securityContext": args.security.pod(),
        "terminationGracePeriodSeconds": args.termination_grace_seconds,
        "containers": [build(main)] + [build(s) for s in args.sidecars],
        "volumes": volumes,
    }
    if args.init_containers:
        spec["initContainers"] = [build(c) for c in args.init_containers]
    if args.node_selector:
        spec["nodeSelector"] = dict(args.node_selector)
    if args.tolerations:
        spec["tolerations"] = list(args.tolerations)
    if args.affinity:
        spec["affinity"] = args.affinity
    replicas = max(args.replicas, args.autoscaling.min_replicas if args.autoscaling else 0)
    if platform.spread_across_nodes and replicas > 1:
        spec["topologySpreadConstraints"] = [
            {
                "maxSkew": 1,
                "topologyKey": "kubernetes.io/hostname",
                "whenUnsatisfiable": "DoNotSchedule" if args.spread == "hard" else "ScheduleAnyway",
                "labelSelector": {"matchLabels": args.selector},
            }
        ]
    annotations: Manifest = dict(args.pod_annotations)
    if checksum is not None:
        annotations["checksum/config"] = checksum
    metrics_ports = sorted(
        p.port for c in (args.main, *args.sidecars) for p in c.ports if p.name == "metrics"
    )
    if metrics_ports:
        # Scrapes reach a dedicated metrics port directly (the NetworkPolicy still limits them
        # to the monitoring namespace); with Istio it would otherwise demand mTLS.
        annotations["traffic.sidecar.istio.io/excludeInboundPorts"] = ",".join(
            str(p) for p in metrics_ports
        )
    labels = dict(args.selector)
    if platform.out_of_mesh(args.component):
        # Sidecar mode reads the annotation, ambient mode the label.
        annotations["sidecar.istio.io/inject"] = "false"
        labels["istio.io/dataplane-mode"] = "none"
    metadata: Manifest = {"labels": labels}
    if annotations:
        metadata["annotations"] = annotations
    return {"metadata": metadata, "spec": spec}


def workload_spec(args: WorkloadArgs, checksum: pulumi.Input[str] | None) -> Manifest:
    """Deployment or StatefulSet spec."""
    spec: Manifest = {
        "replicas": args.autoscaling.min_replicas if args.autoscaling else args.replicas,
        "selector": {"matchLabels": args.selector},
        "template": pod_template(args, checksum),
        "revisionHistoryLimit": 5,
    }
    if args.kind == "Deployment":
        if args.rollout == "Recreate":
            spec["strategy"] = {"type": "Recreate"}
        else:
            # Surge first, never below the desired count during a rollout.
            spec["strategy"] = {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
            }
        return spec
    spec["serviceName"] = f"{args.name}-headless"
    spec["podManagementPolicy"] = args.pod_management_policy
    spec["updateStrategy"] = {"type": "RollingUpdate"}
    if args.volume_claims:
        spec["volumeClaimTemplates"] = [
            {
                "metadata": {"name": c.name, "labels": args.selector},
                "spec": {
                    "accessModes": ["ReadWriteOnce"],
                    "resources": {"requests": {"storage": c.size}},
                    **({"storageClassName": c.storage_class} if c.storage_class else {}),
                },
            }
            for c in args.volume_claims
        ]
        policy = "Retain" if args.platform.protect_data else "Delete"
        spec["persistentVolumeClaimRetentionPolicy"] = {
            "whenDeleted": policy,
            "whenScaled": "Retain",
        }
    return spec
