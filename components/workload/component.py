"""The `Workload` ComponentResource: ServiceAccount, ConfigMap, the Deployment or StatefulSet,
Services, PodDisruptionBudget, HorizontalPodAutoscaler and NetworkPolicy."""

from __future__ import annotations

from collections.abc import Sequence

import pulumi
import pulumi_kubernetes as k8s

from components.graph import ServicePort
from components.kube import kube
from components.network import workload_policy_spec
from components.scrape import ScrapeTarget, targets_from_workload
from components.workload.args import WorkloadArgs
from components.workload.platform import Manifest
from components.workload.pod import config_checksum, workload_spec


def service_ports(ports: Sequence[ServicePort]) -> list[Manifest]:
    # Numeric target ports: adopted Helm pods keep their endpoints whatever they named ports.
    return [
        {"name": p.name, "port": p.port, "targetPort": p.port, "protocol": p.protocol}
        for p in ports
    ]


def autoscaler_spec(args: WorkloadArgs) -> Manifest:
    hpa = args.autoscaling
    assert hpa is not None
    metrics: list[Manifest] = []
    for resource, percent in (("cpu", hpa.cpu_percent), ("memory", hpa.memory_percent)):
        if percent is not None:
            metrics.append(
                {
                    "type": "Resource",
                    "resource": {
                        "name": resource,
                        "target": {"type": "Utilization", "averageUtilization": percent},
                    },
                }
            )
    for metric, value in hpa.pods_metrics.items():
        metrics.append(
            {
                "type": "Pods",
                "pods": {
                    "metric": {"name": metric},
                    "target": {"type": "AverageValue", "averageValue": value},
                },
            }
        )
    for metric, value in hpa.external_metrics.items():
        metrics.append(
            {
                "type": "External",
                "external": {
                    "metric": {"name": metric},
                    "target": {"type": "AverageValue", "averageValue": value},
                },
            }
        )
    spec: Manifest = {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": args.kind, "name": args.name},
        "minReplicas": hpa.min_replicas,
        "maxReplicas": hpa.max_replicas,
        "metrics": metrics,
    }
    behavior: Manifest = {}
    if hpa.scale_up_window is not None:
        behavior["scaleUp"] = {"stabilizationWindowSeconds": hpa.scale_up_window}
    if hpa.scale_down_window is not None:
        behavior["scaleDown"] = {"stabilizationWindowSeconds": hpa.scale_down_window}
    if behavior:
        spec["behavior"] = behavior
    return spec


class Workload(pulumi.ComponentResource):
    """Deployment/StatefulSet with ServiceAccount, Services, ConfigMap, PDB, HPA, NetworkPolicy."""

    workload: k8s.apps.v1.Deployment | k8s.apps.v1.StatefulSet
    service: k8s.core.v1.Service | None
    host: str
    name: str

    def __init__(
        self, name: str, args: WorkloadArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("trading:workload:Workload", name, None, opts)
        platform = args.platform
        self.name = args.name
        self.host = args.name
        child = pulumi.ResourceOptions(parent=self)
        labels_meta = platform.metadata(args.component, tier=args.tier)

        self.service_account = kube(
            k8s.core.v1.ServiceAccount,
            f"{name}-sa",
            metadata=labels_meta,
            automount_service_account_token=args.automount_token,
            opts=child,
        )

        checksum: pulumi.Output[str] | None = None
        depends: list[pulumi.Resource] = [self.service_account, *args.start_after]
        if args.config:
            self.config_map = kube(
                k8s.core.v1.ConfigMap,
                f"{name}-config",
                metadata=labels_meta,
                data=dict(args.config),
                opts=child,
            )
            depends.append(self.config_map)
        if args.config or args.rollout_inputs:
            checksum = pulumi.Output.from_input(
                {"config": dict(args.config), "rollout": dict(args.rollout_inputs)}
            ).apply(config_checksum)

        spec = workload_spec(args, checksum)
        data_opts = pulumi.ResourceOptions(parent=self, depends_on=depends)
        if args.autoscaling is not None:
            # The HPA owns the replica count after creation.
            data_opts = pulumi.ResourceOptions.merge(
                data_opts, pulumi.ResourceOptions(ignore_changes=["spec.replicas"])
            )
        if args.kind == "StatefulSet":
            if args.volume_claims and platform.protect_data:
                data_opts = pulumi.ResourceOptions.merge(
                    data_opts, pulumi.ResourceOptions(protect=True, retain_on_delete=True)
                )
            self.headless = kube(
                k8s.core.v1.Service,
                f"{name}-headless",
                metadata=platform.metadata(
                    args.component, name=f"{args.name}-headless", tier=args.tier
                ),
                spec={
                    "clusterIP": "None",
                    "publishNotReadyAddresses": True,
                    "selector": args.selector,
                    "ports": service_ports(args.main.ports),
                },
                opts=child,
            )
            self.workload = kube(
                k8s.apps.v1.StatefulSet, name, metadata=labels_meta, spec=spec, opts=data_opts
            )
        else:
            self.workload = kube(
                k8s.apps.v1.Deployment, name, metadata=labels_meta, spec=spec, opts=data_opts
            )

        self.service = None
        if args.service is not None:
            svc = args.service
            svc_meta = platform.metadata(args.component, tier=args.tier)
            if svc.annotations:
                svc_meta["annotations"] = dict(svc.annotations)
            svc_spec: Manifest = {
                "type": svc.type,
                "selector": args.selector,
                "ports": service_ports(svc.ports or args.main.ports),
            }
            if svc.publish_not_ready:
                svc_spec["publishNotReadyAddresses"] = True
            self.service = kube(
                k8s.core.v1.Service, f"{name}-svc", metadata=svc_meta, spec=svc_spec, opts=child
            )

        min_pods = args.autoscaling.min_replicas if args.autoscaling else args.replicas
        if min_pods >= 2:
            kube(
                k8s.policy.v1.PodDisruptionBudget,
                f"{name}-pdb",
                metadata=labels_meta,
                spec={"maxUnavailable": 1, "selector": {"matchLabels": args.selector}},
                opts=child,
            )
        if args.autoscaling is not None:
            kube(
                k8s.autoscaling.v2.HorizontalPodAutoscaler,
                f"{name}-hpa",
                metadata=labels_meta,
                spec=autoscaler_spec(args),
                opts=child,
            )
        if args.network is not None:
            kube(
                k8s.networking.v1.NetworkPolicy,
                f"{name}-netpol",
                metadata=labels_meta,
                spec=workload_policy_spec(args.selector, args.network),
                opts=child,
            )
        # What Prometheus scrapes of these pods; the tier hands it on (`scrape_targets`).
        self.scrape_targets = tuple(targets_from_workload(labels_meta, spec, platform.mesh))
        self.register_outputs({"name": self.name, "host": self.host})


def scrape_targets(*workloads: Workload) -> tuple[ScrapeTarget, ...]:
    """A tier's scrape targets: those of its workloads, in order."""
    return tuple(target for workload in workloads for target in workload.scrape_targets)
