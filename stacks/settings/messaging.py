"""Settings of the `messageBus` key: the NATS JetStream cluster of seed 000."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, model_validator

from components import quantities
from components.graph import DependencyGraph, Node
from components.messaging import (
    JetStream,
    MessageBusArgs,
    NatsBox,
    Storage,
    bus_nodes,
)
from components.workload import Platform
from stacks.settings.types import (
    ByteQuantity,
    ImageRef,
    Model,
    ResourceSettings,
    positive,
)
from stacks.versions import IMAGES

_BUCKET = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def _quorum(value: int) -> int:
    # JetStream's Raft groups need a majority: an even size adds a member without adding safety.
    if value not in (1, 3, 5):
        raise ValueError("must be 1, 3 or 5 (JetStream needs an odd cluster size for its quorum)")
    return value


def _bucket(value: str) -> str:
    if not _BUCKET.match(value):
        raise ValueError(
            "must be a NATS KV bucket name: 1-64 letters, digits, '_' or '-' (no dots or spaces)"
        )
    return value


class JetStreamSettings(Model):
    # None: 90% of the volume, leaving room for the filesystem and compaction.
    max_file_store: ByteQuantity | None = None
    max_memory_store: ByteQuantity

    def build(self) -> JetStream:
        return JetStream(max_memory_store=self.max_memory_store, max_file_store=self.max_file_store)


class StorageSettings(Model):
    size: ByteQuantity
    storage_class: str | None = None

    def build(self) -> Storage:
        return Storage(size=self.size, storage_class=self.storage_class)


class NatsBoxSettings(Model):
    enabled: bool = True
    image: ImageRef = IMAGES["natsBox"]
    resources: ResourceSettings

    def build(self) -> NatsBox:
        return NatsBox(enabled=self.enabled, image=self.image, resources=self.resources.build())


class MessageBusSettings(Model):
    image: ImageRef = IMAGES["nats"]
    exporter_image: ImageRef = IMAGES["natsExporter"]
    replicas: Annotated[int, AfterValidator(_quorum)]
    resources: ResourceSettings
    exporter_resources: ResourceSettings
    job_resources: ResourceSettings
    storage: StorageSettings
    jetstream: JetStreamSettings
    bucket: Annotated[str, AfterValidator(_bucket)] = "service_registry"
    bucket_history: Annotated[int, positive()] = 5
    # Production requires credentials; local may keep seed 000's open access.
    auth: bool
    lame_duck_seconds: Annotated[int, positive("seconds")] = 30
    nats_box: NatsBoxSettings

    @model_validator(mode="after")
    def _stores_fit(self) -> MessageBusSettings:
        limit = quantities.parse_bytes(self.resources.memory_limit)
        memory_store = quantities.parse_bytes(self.jetstream.max_memory_store)
        # The memory store lives inside GOMEMLIMIT (7/8 of the limit) next to the server's own heap.
        if memory_store * 2 > limit:
            raise ValueError(
                f"jetstream.maxMemoryStore {self.jetstream.max_memory_store} needs a memory "
                f"limit of at least twice its size; resources.memoryLimit is "
                f"{self.resources.memory_limit}"
            )
        if self.jetstream.max_file_store is not None and quantities.parse_bytes(
            self.jetstream.max_file_store
        ) > quantities.parse_bytes(self.storage.size):
            raise ValueError(
                f"jetstream.maxFileStore {self.jetstream.max_file_store} must fit the volume "
                f"storage.size {self.storage.size}"
            )
        return self

    def nodes(self, platform: Platform) -> list[Node]:
        """The bus as the dependency graph sees it: `nats` on 4222, called by its own admin
        clients (the KV Job, nats-box)."""
        return bus_nodes(platform)

    def build(self, platform: Platform, graph: DependencyGraph) -> MessageBusArgs:
        return MessageBusArgs(
            platform=platform,
            graph=graph,
            image=self.image,
            exporter_image=self.exporter_image,
            replicas=self.replicas,
            resources=self.resources.build(),
            exporter_resources=self.exporter_resources.build(),
            job_resources=self.job_resources.build(),
            storage=self.storage.build(),
            jetstream=self.jetstream.build(),
            bucket=self.bucket,
            bucket_history=self.bucket_history,
            auth=self.auth,
            lame_duck_seconds=self.lame_duck_seconds,
            nats_box=self.nats_box.build(),
        )
