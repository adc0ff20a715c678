"""The root settings model: one field per top-level config key `trading-platform:<key>`."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from components import quantities
from stacks.settings.messaging import MessageBusSettings
from stacks.settings.types import (
    ByteQuantity,
    CpuQuantity,
    DnsLabel,
    Model,
    ResourceSettings,
    positive,
)


def _release(value: str) -> str:
    # Leaves room for `-{component}` suffixes inside the 63-character limit.
    if len(value) > 30:
        raise ValueError("must be at most 30 characters so every `{release}-{component}` fits 63")
    return value


class BudgetSettings(Model):
    """What the declared objects may request in total on a `local` node."""

    cpu: CpuQuantity
    memory: ByteQuantity

    def cpu_cores(self) -> float:
        return float(quantities.parse_cpu(self.cpu))

    def memory_bytes(self) -> int:
        return quantities.parse_bytes(self.memory)


class QuotaSettings(Model):
    """The namespace ResourceQuota."""

    requests_cpu: CpuQuantity
    requests_memory: ByteQuantity
    limits_cpu: CpuQuantity
    limits_memory: ByteQuantity
    pods: Annotated[int, positive()]
    persistent_volume_claims: Annotated[int, positive()]
    requests_storage: ByteQuantity

    def hard(self) -> dict[str, str]:
        return {
            "requests.cpu": self.requests_cpu,
            "requests.memory": self.requests_memory,
            "limits.cpu": self.limits_cpu,
            "limits.memory": self.limits_memory,
            "pods": str(self.pods),
            "persistentvolumeclaims": str(self.persistent_volume_claims),
            "requests.storage": self.requests_storage,
        }


class ClusterSettings(Model):
    """How the platform treats the cluster: pulls, placement, protection, quota."""

    image_pull_policy: Literal["Always", "IfNotPresent", "Never"]
    spread_across_nodes: bool
    protect_data: bool
    node_budget: BudgetSettings | None
    quota: QuotaSettings
    container_defaults: ResourceSettings


class PlatformSettings(Model):
    profile: Literal["local", "production"]
    release: Annotated[DnsLabel, AfterValidator(_release)]
    namespace: DnsLabel
    kube_context: Annotated[str, Field(min_length=1)]
    # Stable provider identity: renaming a kube context must not replace every object.
    cluster_identifier: Annotated[str, Field(min_length=1)] | None = None
    render_dir: Annotated[str, Field(min_length=1)] | None = None
    app_version: Annotated[str, Field(min_length=1, max_length=63)] = "0.1.0"
    monitoring_namespace: DnsLabel | None = None
    cluster: ClusterSettings
    message_bus: MessageBusSettings

    @property
    def provider_identity(self) -> str:
        return self.cluster_identifier or self.kube_context
