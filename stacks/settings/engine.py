"""Settings of the `engine` key: seed 002's C++ HFT engine, partitioned into shards."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, ValidationInfo, field_validator, model_validator

from components import quantities
from components.engine import HftEngineArgs, engine_nodes
from components.graph import DependencyGraph, Node
from components.workload import Platform
from stacks.settings.images import ImagesSettings
from stacks.settings.types import ImageRef, Model, Port, ResourceSettings
from stacks.versions import IMAGES

MAX_SHARDS = 64


def _shards(value: int) -> int:
    if not 1 <= value <= MAX_SHARDS:
        raise ValueError(
            f"must be between 1 and {MAX_SHARDS} engine shards "
            "(one Deployment and Service per shard; 1 is seed 002's single engine)"
        )
    return value


class TolerationSettings(Model):
    """A toleration of the taint on dedicated low-latency nodes."""

    key: str | None = None
    operator: Literal["Equal", "Exists"] = "Equal"
    value: str | None = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None
    toleration_seconds: int | None = None

    def manifest(self) -> dict[str, Any]:
        out: dict[str, Any] = {"operator": self.operator}
        for name, value in (("key", self.key), ("value", self.value), ("effect", self.effect)):
            if value is not None:
                out[name] = value
        if self.toleration_seconds is not None:
            out["tolerationSeconds"] = self.toleration_seconds
        return out


class EngineSettings(Model):
    # The whole reference (registry, repository, tag); None: hft-engine from the stack's `images`.
    image: ImageRef | None = None
    shards: Annotated[int, AfterValidator(_shards)]
    grpc_port: Port = 50051
    market_data_port: Port = 9001
    # The engine serves grpc.health.v1; False probes the gRPC port with a TCP connect.
    grpc_health: bool = True
    # Guaranteed QoS with whole CPUs, so the kubelet's static CPU manager pins cores (production).
    exclusive_cpus: bool
    resources: ResourceSettings
    # Dedicated low-latency nodes, e.g. {node-role.trading/low-latency: "true"} and its taint.
    node_selector: dict[str, str] = {}
    tolerations: list[TolerationSettings] = []

    @field_validator("resources")
    @classmethod
    def _guaranteed(cls, value: ResourceSettings, info: ValidationInfo) -> ResourceSettings:
        if not info.data.get("exclusive_cpus"):
            return value
        cpu_request = quantities.parse_cpu(value.cpu_request)
        whole = cpu_request == quantities.parse_cpu(value.cpu_limit) and cpu_request % 1 == 0
        same_memory = quantities.parse_bytes(value.memory_request) == quantities.parse_bytes(
            value.memory_limit
        )
        if not (whole and same_memory and cpu_request >= 1):
            raise ValueError(
                "with exclusiveCpus the engine must be in the Guaranteed QoS class with whole "
                "CPUs: cpuRequest equal to cpuLimit and a whole number of CPUs (e.g. 2), and "
                f"memoryRequest equal to memoryLimit; got cpu {value.cpu_request}/"
                f"{value.cpu_limit}, memory {value.memory_request}/{value.memory_limit}"
            )
        return value

    @model_validator(mode="after")
    def _distinct_ports(self) -> EngineSettings:
        if self.grpc_port == self.market_data_port:
            raise ValueError(
                f"grpcPort and marketDataPort are both {self.grpc_port}; "
                "the engine's ports must be distinct"
            )
        return self

    def image_ref(self, images: ImagesSettings) -> str:
        """The engine's image: `engine.image`, else the stack's registry and tag."""
        return self.image or images.ref(IMAGES["hftEngine"])

    def nodes(self, platform: Platform) -> list[Node]:
        """The shards as the dependency graph sees them."""
        return engine_nodes(
            platform,
            self.shards,
            grpc_port=self.grpc_port,
            market_data_port=self.market_data_port,
        )

    def build(
        self, platform: Platform, graph: DependencyGraph, images: ImagesSettings
    ) -> HftEngineArgs:
        return HftEngineArgs(
            platform=platform,
            graph=graph,
            image=self.image_ref(images),
            shards=self.shards,
            resources=self.resources.build(),
            grpc_port=self.grpc_port,
            market_data_port=self.market_data_port,
            grpc_health=self.grpc_health,
            node_selector=dict(self.node_selector),
            tolerations=tuple(t.manifest() for t in self.tolerations),
        )
