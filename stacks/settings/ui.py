"""Settings of the `ui` key: the aegis monitor API and UI (seed 000) and the optional operator
frontend (seed 004), plus the image registry and tag shared by the application images.

Names and ports of the monitor are seed 000's contract and deliberately not configurable.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, Field

from components.endpoints import BusEndpoint
from components.graph import DependencyGraph, Node
from components.ui import FrontendSpec, MonitorSpec, UiArgs, ui_nodes
from components.workload import Platform
from stacks.settings.types import (
    AutoscalingSettings,
    DnsLabel,
    Model,
    ResourceSettings,
    positive,
)
from stacks.versions import IMAGES

_REGISTRY = re.compile(r"^[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]+)?(/[a-z0-9]+([._-][a-z0-9]+)*)*$")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_REPOSITORY = re.compile(r"^[a-z0-9]+([._-][a-z0-9]+)*(/[a-z0-9]+([._-][a-z0-9]+)*)*$")


def _registry(value: str) -> str:
    if value and not _REGISTRY.match(value):
        raise ValueError(
            "must be a registry host with an optional path, e.g. ghcr.io/aegis or "
            "registry.local:5000, or empty for images loaded into the cluster"
        )
    return value


def _tag(value: str) -> str:
    if not _TAG.match(value):
        raise ValueError(
            "must be an image tag: letters, digits, '_', '.' and '-', at most 128 characters, "
            "e.g. 0.1.0 or a git commit"
        )
    if value == "latest":
        raise ValueError("must not be the moving tag 'latest'; pin a version or a git commit")
    return value


def _repository(value: str) -> str:
    if not _REPOSITORY.match(value):
        raise ValueError(
            "must be an image repository without registry or tag, e.g. eafix-risk-manager"
        )
    return value


Registry = Annotated[str, AfterValidator(_registry)]
ImageTag = Annotated[str, AfterValidator(_tag)]
Repository = Annotated[str, AfterValidator(_repository)]
Port = Annotated[int, AfterValidator(lambda v: _port(v))]
Replicas = Annotated[int, positive("a replica count")]


def _port(value: int) -> int:
    if not 1 <= value <= 65535:
        raise ValueError("must be a port number between 1 and 65535")
    return value


class ImagesSettings(Model):
    """Where the platform's own images come from: `{registry}/{repository}:{tag}`."""

    # Empty: images loaded into kind / OrbStack (seed 000's `docker save | ctr import`).
    registry: Registry = ""
    # None: the pinned tag of stacks/versions.py; the deploy script sets the git commit.
    tag: ImageTag | None = None

    def ref(self, pinned: str) -> str:
        """`pinned` is `repository:tag`; the registry and tag of this setting apply to it."""
        repository, _, default_tag = pinned.rpartition(":")
        image = f"{repository}:{self.tag or default_tag}"
        return f"{self.registry}/{image}" if self.registry else image


class MonitorSettings(Model):
    """monitor-api or monitor-ui: size and count (names, ports, env are seed 000's)."""

    replicas: Replicas
    resources: ResourceSettings
    # HTTP path of the health endpoint; None probes the TCP port (seed 000 documents none).
    health_path: Annotated[str, Field(pattern=r"^/")] | None = None


class MonitorUiSettings(MonitorSettings):
    # NEXT_PUBLIC_API_URL; None: the monitor API's in-cluster URL. Browsers of a port-forwarded
    # kind cluster need the forwarded address, e.g. http://localhost:8100.
    api_url: Annotated[str, Field(pattern=r"^https?://")] | None = None


class FrontendSettings(Model):
    """The operator frontend (Next.js, seed 004): /api/health and /api/ready, optional HPA."""

    enabled: bool
    component: DnsLabel = "operator-ui"
    port: Port = 3000
    replicas: Replicas = 1
    resources: ResourceSettings
    autoscaling: AutoscalingSettings | None = None
    # Services it calls (dependency graph); its API is the operator gateway of the catalogue.
    calls: list[str] = ["gui-gateway"]
    # NEXT_PUBLIC_API_URL; None: the URL of the first service it calls.
    api_url: Annotated[str, Field(pattern=r"^https?://")] | None = None
    # Reached from outside the cluster (ingress or mesh gateway).
    public: bool = True


class UiSettings(Model):
    images: ImagesSettings = ImagesSettings()
    monitor_api: MonitorSettings
    monitor_ui: MonitorUiSettings
    frontend: FrontendSettings
    # The `wait-for-*` init containers (busybox) only loop on `nc`.
    init_resources: ResourceSettings

    def nodes(self, platform: Platform) -> list[Node]:
        """The tier's dependency-graph nodes (monitor API/UI, the frontend when enabled)."""
        return ui_nodes(platform, self.frontend_spec())

    def build(self, platform: Platform, graph: DependencyGraph, bus: BusEndpoint) -> UiArgs:
        return UiArgs(
            platform=platform,
            graph=graph,
            bus=bus,
            monitor_api=self.monitor_api_spec(),
            monitor_ui=self.monitor_ui_spec(),
            init_image=IMAGES["busybox"],
            init_resources=self.init_resources.build(),
            frontend=self.frontend_spec(),
        )

    def monitor_api_spec(self) -> MonitorSpec:
        api = self.monitor_api
        return MonitorSpec(
            image=self.images.ref(IMAGES["monitorApi"]),
            resources=api.resources.build(),
            replicas=api.replicas,
            health_path=api.health_path,
        )

    def monitor_ui_spec(self) -> MonitorSpec:
        ui = self.monitor_ui
        return MonitorSpec(
            image=self.images.ref(IMAGES["monitorUi"]),
            resources=ui.resources.build(),
            replicas=ui.replicas,
            health_path=ui.health_path,
            api_url=ui.api_url,
        )

    def frontend_spec(self) -> FrontendSpec | None:
        frontend = self.frontend
        if not frontend.enabled:
            return None
        return FrontendSpec(
            image=self.images.ref(IMAGES["operatorUi"]),
            component=frontend.component,
            port=frontend.port,
            resources=frontend.resources.build(),
            replicas=frontend.replicas,
            autoscaling=frontend.autoscaling.build() if frontend.autoscaling else None,
            calls=tuple(frontend.calls),
            calls_key="ui.frontend.calls",
            api_url=frontend.api_url,
            public=frontend.public,
        )
