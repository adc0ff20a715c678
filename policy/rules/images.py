"""Pinned images: no container image is untagged or tagged `latest`."""

from __future__ import annotations

from typing import Any

from .manifests import containers, pod_spec
from .model import Resource, Rule, Settings, Violation, is_unknown


def image_problem(image: Any) -> str | None:
    """Why an image reference isn't pinned, or None when it is (tag other than latest, digest)."""
    if is_unknown(image):
        return None
    if not isinstance(image, str) or not image.strip():
        return "has no image"
    if "@sha256:" in image:
        return None
    last = image.rsplit("/", 1)[-1]
    if ":" not in last:
        return f"uses the untagged image {image!r} (which means :latest)"
    if last.rsplit(":", 1)[1] == "latest":
        return f"uses the moving tag in {image!r}"
    return None


def check_pinned_images(resource: Resource, _: Settings) -> list[Violation]:
    spec = pod_spec(resource)
    if spec is None or resource.third_party:
        return []
    out = []
    for c in containers(spec):
        problem = image_problem(c.spec.get("image"))
        if problem:
            out.append(PINNED_IMAGES.violation(resource, f"{c.label} {problem}"))
    return out


PINNED_IMAGES = Rule(
    "pinned-images",
    "No container image is untagged or tagged `latest`.",
    "pin a version tag or digest (stacks/versions.py, or the images' `tag` setting)",
    mandatory=True,
    resource_check=check_pinned_images,
)
