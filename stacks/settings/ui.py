"""Settings of the `ui` key: the aegis monitor API and UI (seed 000) and the optional operator
frontend (seed 004). Their images come from the stack's `images` unless `ui.images` overrides
the registry or the tag.

Names and ports of the monitor are seed 000's contract and deliberately not configurable.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from components.endpoints import BusEndpoint
from components.graph import DependencyGraph, Node
from components.ui import FrontendSpec, MonitorSpec, MonitorUiSpec, UiArgs, ui_nodes
from components.workload import Platform
from stacks.settings.images import ImagesOverride, ImagesSettings
from stacks.settings.types import (
    AutoscalingSettings,
    DnsLabel,
    Model,
    Port,
    ResourceSettings,
    positive,
)
from stacks.versions import IMAGES

Replicas = Annotated[int, positive("a replica count")]


class MonitorSettings(Model):
    """monitor-api or monitor-ui: size and count (names, ports, env are seed 000's)."""

    replicas: Replicas
    resources: ResourceSettings
    # HTTP path of the health endpoint; None probes the TCP port (seed 000 documents none).
    health_path: Annotated[str, Field(pattern=r"^/")] | None = None

    def build(self, image: str) -> MonitorSpec:
        return MonitorSpec(
            image=image,
            resources=self.resources.build(),
            replicas=self.replicas,
            health_path=self.health_path,
        )


class MonitorUiSettings(MonitorSettings):
    # NEXT_PUBLIC_API_URL; None: the monitor API's in-cluster URL. Browsers of a port-forwarded
    # kind cluster need the forwarded address, e.g. http://localhost:8100.
    api_url: Annotated[str, Field(pattern=r"^https?://")] | None = None

    def build(self, image: str) -> MonitorUiSpec:
        return MonitorUiSpec(
            image=image,
            resources=self.resources.build(),
            replicas=self.replicas,
            health_path=self.health_path,
            api_url=self.api_url,
        )


class FrontendSettings(Model):
    """The operator frontend (Next.js, seed 004): /api/health and /api/ready, optional HPA."""

    enabled: bool
    component: DnsLabel = "operator-ui"
    port: Port = 3000
    replicas: Replicas
    resources: ResourceSettings
    autoscaling: AutoscalingSettings | None
    # Services it calls (dependency graph); its API is the operator gateway of the catalogue.
    calls: list[str] = ["gui-gateway"]
    # NEXT_PUBLIC_API_URL; None: the URL of the first service it calls.
    api_url: Annotated[str, Field(pattern=r"^https?://")] | None = None
    # Reached from outside the cluster (ingress or mesh gateway).
    public: bool = True

    def build(self, image: str) -> FrontendSpec | None:
        """None when disabled."""
        if not self.enabled:
            return None
        return FrontendSpec(
            image=image,
            component=self.component,
            port=self.port,
            resources=self.resources.build(),
            replicas=self.replicas,
            autoscaling=self.autoscaling.build() if self.autoscaling else None,
            calls=tuple(self.calls),
            calls_key="ui.frontend.calls",
            api_url=self.api_url,
            public=self.public,
        )


class UiSettings(Model):
    images: ImagesOverride = ImagesOverride()
    monitor_api: MonitorSettings
    monitor_ui: MonitorUiSettings
    frontend: FrontendSettings
    # The `wait-for-*` init containers (busybox) only loop on `nc`.
    init_resources: ResourceSettings

    def nodes(self, platform: Platform, images: ImagesSettings) -> list[Node]:
        """The tier's dependency-graph nodes (monitor API/UI, the frontend when enabled)."""
        own = self.images.on(images)
        return ui_nodes(platform, self.frontend.build(own.ref(IMAGES["operatorUi"])))

    def build(
        self, platform: Platform, graph: DependencyGraph, bus: BusEndpoint, images: ImagesSettings
    ) -> UiArgs:
        """`images`: the stack's application images (`ui.images` overrides apply on top)."""
        own = self.images.on(images)
        return UiArgs(
            platform=platform,
            graph=graph,
            bus=bus,
            monitor_api=self.monitor_api.build(own.ref(IMAGES["monitorApi"])),
            monitor_ui=self.monitor_ui.build(own.ref(IMAGES["monitorUi"])),
            init_image=IMAGES["busybox"],
            init_resources=self.init_resources.build(),
            frontend=self.frontend.build(own.ref(IMAGES["operatorUi"])),
        )

    def image_refs(self, images: ImagesSettings) -> list[str]:
        """The tier's application images (the frontend's when it is enabled)."""
        own = self.images.on(images)
        names = ["monitorApi", "monitorUi"] + (["operatorUi"] if self.frontend.enabled else [])
        return [own.ref(IMAGES[name]) for name in names]
