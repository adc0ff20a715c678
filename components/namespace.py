"""The platform namespace: Pod Security Standards, quota, default limits, default-deny traffic."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s

from components.kube import kube
from components.naming import PART_OF, recommended_labels
from components.network import default_deny_spec, dns_egress_spec
from components.workload import Resources

PSS_VERSION = "latest"


@dataclass(frozen=True)
class NamespaceArgs:
    name: str
    release: str
    version: str
    # ResourceQuota `spec.hard`, e.g. {"requests.cpu": "4", "pods": "40"}.
    quota: Mapping[str, str]
    # LimitRange defaults for containers that declare nothing (every platform container does).
    container_defaults: Resources
    protect: bool = False
    extra_labels: Mapping[str, str] = field(default_factory=dict)


def namespace_labels(args: NamespaceArgs) -> dict[str, str]:
    labels = recommended_labels(args.release, "namespace", args.version, "platform")
    labels.update(
        {
            "pod-security.kubernetes.io/enforce": "restricted",
            "pod-security.kubernetes.io/enforce-version": PSS_VERSION,
            "pod-security.kubernetes.io/audit": "restricted",
            "pod-security.kubernetes.io/warn": "restricted",
        }
    )
    labels.update(args.extra_labels)
    return labels


class PlatformNamespace(pulumi.ComponentResource):
    """Namespace + ResourceQuota + LimitRange + default-deny and DNS NetworkPolicies."""

    name: pulumi.Output[str]

    def __init__(
        self, name: str, args: NamespaceArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("trading:platform:Namespace", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        guarded = pulumi.ResourceOptions(
            parent=self, protect=args.protect, retain_on_delete=args.protect
        )
        self.namespace = kube(
            k8s.core.v1.Namespace,
            name,
            metadata={"name": args.name, "labels": namespace_labels(args)},
            opts=guarded,
        )
        self.name = self.namespace.metadata.name
        labels = recommended_labels(args.release, "namespace", args.version, "platform")

        def meta(suffix: str) -> dict[str, object]:
            return {"name": f"{PART_OF}-{suffix}", "namespace": self.name, "labels": labels}

        kube(
            k8s.core.v1.ResourceQuota,
            f"{name}-quota",
            metadata=meta("quota"),
            spec={"hard": dict(args.quota)},
            opts=child,
        )
        defaults = args.container_defaults.manifest()
        kube(
            k8s.core.v1.LimitRange,
            f"{name}-limits",
            metadata=meta("limits"),
            spec={
                "limits": [
                    {
                        "type": "Container",
                        "defaultRequest": defaults["requests"],
                        "default": defaults["limits"],
                    }
                ]
            },
            opts=child,
        )
        kube(
            k8s.networking.v1.NetworkPolicy,
            f"{name}-default-deny",
            metadata=meta("default-deny"),
            spec=default_deny_spec(),
            opts=child,
        )
        kube(
            k8s.networking.v1.NetworkPolicy,
            f"{name}-allow-dns",
            metadata=meta("allow-dns"),
            spec=dns_egress_spec(),
            opts=child,
        )
        self.register_outputs({"name": self.name})
