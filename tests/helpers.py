"""Small query helpers over recorded manifests."""

from __future__ import annotations

from typing import Any

import pytest

from stacks.errors import PROJECT, ConfigError
from tools.offline import Recording, run_stack, stack_config


def production(recording: Recording) -> bool:
    """Whether the recorded stack uses the `production` profile (prod and staging)."""
    return bool(stack_config(recording.stack)[f"{PROJECT}:profile"] == "production")


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


def assert_rejected(
    overrides: dict[str, Any], key: str, value: str, allowed: str, stack: str = "dev"
) -> str:
    """Running `stack` with `overrides` fails before any resource is registered, with one
    line naming the key, the value and what is allowed. Returns the message."""
    recording = Recording(stack)
    with pytest.raises(ConfigError) as raised:
        run_stack(stack, overrides, recording=recording)
    message = str(raised.value)
    assert recording.resources == [], "a resource was registered before the config error"
    assert f"trading-platform:{key} = " in message
    assert value in message
    assert allowed in message
    assert "\n" not in message, "one message, one line"
    return message


def pod_template_specs(recording: Recording) -> list[tuple[str, str, dict[str, Any]]]:
    """(kind, name, pod spec) of every workload, Job and CronJob of the recorded graph."""
    found = []
    for r in recording.kubernetes_objects():
        spec = r.manifest().get("spec") or {}
        if r.kind == "CronJob":
            spec = spec["jobTemplate"]["spec"]
        if isinstance(spec.get("template"), dict) and "spec" in spec["template"]:
            found.append((str(r.kind), str(r.object_name), spec["template"]["spec"]))
    return found


def secret_file(pod: dict[str, Any], c: dict[str, Any], path: str) -> tuple[str, str]:
    """The Secret name and key whose file `path` is inside container `c` of `pod`: a mounted
    Secret volume, or a projected volume of Secrets."""
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    for mount in c.get("volumeMounts", []):
        root = mount["mountPath"].rstrip("/") + "/"
        if not path.startswith(root) or mount.get("subPath"):
            continue
        relative = path[len(root) :]
        volume = volumes[mount["name"]]
        if "secret" in volume:
            for item in volume["secret"].get("items") or [{"key": relative, "path": relative}]:
                if item["path"] == relative:
                    return volume["secret"]["secretName"], item["key"]
        for source in volume.get("projected", {}).get("sources", []):
            for item in source.get("secret", {}).get("items", []):
                if item["path"] == relative:
                    return source["secret"]["name"], item["key"]
    raise KeyError(f"{path} is no file of a mounted Secret in container {c['name']}")
