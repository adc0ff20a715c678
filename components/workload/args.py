"""The Workload's typed args: the pods, their Services, autoscaling and network access."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

import pulumi

from components.graph import ServicePort
from components.network import NetworkAccess
from components.workload.containers import Container, Scratch, Security, VolumeClaim
from components.workload.platform import Manifest, Platform


@dataclass(frozen=True)
class Autoscaling:
    """HorizontalPodAutoscaler; when present `spec.replicas` is left to it after creation."""

    min_replicas: int
    max_replicas: int
    cpu_percent: int | None = None
    memory_percent: int | None = None
    pods_metrics: Mapping[str, str] = field(default_factory=dict)
    external_metrics: Mapping[str, str] = field(default_factory=dict)
    scale_up_window: int | None = None
    scale_down_window: int | None = None


@dataclass(frozen=True)
class ServiceSpec:
    """The client Service; StatefulSets also get `{name}-headless` for stable pod DNS."""

    type: Literal["ClusterIP", "LoadBalancer"] = "ClusterIP"
    ports: tuple[ServicePort, ...] | None = None  # default: the main container's ports
    publish_not_ready: bool = False
    annotations: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class WorkloadArgs:
    platform: Platform
    component: str
    main: Container
    tier: str | None = None
    kind: Literal["Deployment", "StatefulSet"] = "Deployment"
    replicas: int = 1
    config: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    config_mount: str | None = None  # mount the ConfigMap as files here instead of env
    sidecars: tuple[Container, ...] = ()
    init_containers: tuple[Container, ...] = ()
    scratch: tuple[Scratch, ...] = (Scratch("tmp", "/tmp"),)
    volume_claims: tuple[VolumeClaim, ...] = ()
    extra_volumes: tuple[Manifest, ...] = ()
    service: ServiceSpec | None = field(default_factory=ServiceSpec)
    autoscaling: Autoscaling | None = None
    network: NetworkAccess | None = None
    security: Security = field(default_factory=Security)
    pod_annotations: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    termination_grace_seconds: int = 30
    # RollingUpdate surges first and never drops below the desired count; Recreate is for
    # singletons that must never run twice (an engine shard owning its order books).
    rollout: Literal["RollingUpdate", "Recreate"] = "RollingUpdate"
    pod_management_policy: Literal["OrderedReady", "Parallel"] = "OrderedReady"
    spread: Literal["soft", "hard"] = "soft"
    node_selector: Mapping[str, str] = field(default_factory=dict)
    tolerations: tuple[Manifest, ...] = ()
    affinity: Manifest | None = None
    automount_token: bool = False
    # Extra inputs whose change must roll the pods (e.g. a mounted Secret's version).
    rollout_inputs: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    # What the pods need before they start (e.g. the Secret they mount): only the Deployment or
    # StatefulSet waits for it, so the Service, account and policies are created meanwhile.
    start_after: tuple[pulumi.Resource, ...] = ()

    @property
    def name(self) -> str:
        return self.platform.name(self.component)

    @property
    def selector(self) -> dict[str, str]:
        return self.platform.selector(self.component)
