"""Settings of the `images` key: where the platform's own application images come from.

One registry and one tag per stack (`images.registry`, `images.tag`) apply to every application
image: the monitor API and UI and the operator frontend (`ui`), the trading services
(`tradingServices`), the HFT engine (`engine`) and the FastAPI backend (`api.backend`). A tier
overrides them with `ui.images` / `tradingServices.images` ({registry, tag}, each optional) or,
for the engine and the backend, with a whole reference (`engine.image`, `api.backend.image`).

Third-party images (NATS, nats-box, Redis, PostgreSQL, nginx, busybox, the exporters) are not
application images: they stay the upstream references pinned in stacks/versions.py; a cluster
that must not reach their public registries mirrors them at the container runtime
(docs/configuration.md, "Images").
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator

from stacks.settings.types import Model

_REGISTRY = re.compile(r"^[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]+)?(/[a-z0-9]+([._-][a-z0-9]+)*)*$")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_REPOSITORY = re.compile(r"^[a-z0-9]+([._-][a-z0-9]+)*(/[a-z0-9]+([._-][a-z0-9]+)*)*$")


def is_registry_host(component: str) -> bool:
    """Whether the first component of a reference names a registry (Docker's rule: it contains
    a '.' or a ':', or is `localhost`); otherwise the runtime pulls it from Docker Hub."""
    return "." in component or ":" in component or component == "localhost"


def names_registry(reference: str) -> bool:
    """Whether an image reference says which registry it comes from."""
    first, slash, _ = reference.partition("/")
    return bool(slash) and is_registry_host(first)


def _registry(value: str) -> str:
    if value and not (_REGISTRY.match(value) and is_registry_host(value.split("/")[0])):
        raise ValueError(
            "must be a registry host (with a '.' or a port, or localhost) and an optional path, "
            "e.g. ghcr.io/dicky1987/eafix-modular or registry.local:5000, or empty for images "
            "loaded into the cluster"
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
        raise ValueError("must be an image repository without registry or tag, e.g. risk-manager")
    return value


Registry = Annotated[str, AfterValidator(_registry)]
ImageTag = Annotated[str, AfterValidator(_tag)]
Repository = Annotated[str, AfterValidator(_repository)]


class ImagesSettings(Model):
    """The stack's application images: `{registry}/{repository}:{tag}`."""

    # Empty: images loaded into kind / OrbStack (seed 000's `docker save | ctr import`).
    # Production must name one (seed 001's ghcr.io/dicky1987/eafix-modular).
    registry: Registry = ""
    # None: each image's pinned tag (stacks/versions.py). The deploy workflows set the git commit.
    tag: ImageTag | None = None

    def ref(self, pinned: str) -> str:
        """`pinned` is `repository:tag`; this setting's registry and tag apply to it."""
        repository, _, default_tag = pinned.rpartition(":")
        image = f"{repository}:{self.tag or default_tag}"
        return f"{self.registry}/{image}" if self.registry else image


class ImagesOverride(Model):
    """A tier's own registry or tag; each unset one is the stack's (`images`)."""

    # None: `images.registry`; "" loads this tier's images into the cluster instead.
    registry: Registry | None = None
    # None: `images.tag`, else the pinned tag.
    tag: ImageTag | None = None

    def on(self, stack: ImagesSettings) -> ImagesSettings:
        """The stack's images with this tier's overrides applied."""
        return ImagesSettings(
            registry=stack.registry if self.registry is None else self.registry,
            tag=self.tag if self.tag is not None else stack.tag,
        )
