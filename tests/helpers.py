"""Small query helpers over recorded manifests."""

from __future__ import annotations

from typing import Any

from stacks.offline import Recording


def manifest(recording: Recording, kind: str, name: str) -> dict[str, Any]:
    return recording.get(kind, name).manifest()


def pod_spec(recording: Recording, kind: str, name: str) -> dict[str, Any]:
    spec: dict[str, Any] = manifest(recording, kind, name)["spec"]["template"]["spec"]
    return spec


def container(recording: Recording, kind: str, name: str, container: str) -> dict[str, Any]:
    spec = pod_spec(recording, kind, name)
    for c in spec["containers"] + spec.get("initContainers", []):
        if c["name"] == container:
            return dict(c)
    raise KeyError(f"{kind}/{name} has no container {container!r}")


def env_of(c: dict[str, Any]) -> dict[str, Any]:
    """Container env as name -> value (or the valueFrom reference)."""
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in c.get("env", [])}
