"""Resources, declared against live: each container keeps its tested requests and limits, and the
stack's namespace quota holds the live pods plus one rolling-update surge pod."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from components.quantities import format_bytes, format_cpu
from tools.adopt.manifests import _bytes, _cpu, dig, pod_resources
from tools.adopt.model import Manifest, Problem, SeedObject

RESOURCES_FIX = (
    "adopt with the stack that keeps seed 000's tested resources (`--stack adopt`, "
    "Pulumi.adopt.yaml), or make this stack declare the live values"
)


def _resources(container: Mapping[str, Any]) -> dict[str, dict[str, Decimal | int]]:
    """A container's requests and limits as numbers, so `1` equals `1000m` and `2Gi` `2048Mi`."""
    out: dict[str, dict[str, Decimal | int]] = {}
    for field in ("requests", "limits"):
        given = dig(container, "resources", field) or {}
        out[field] = {
            name: (_cpu(value) if name == "cpu" else _bytes(value))
            for name, value in given.items()
            if name in ("cpu", "memory")
        }
    return out


def _check_resources(obj: SeedObject, live: Manifest, want: Manifest) -> list[Problem]:
    """Seed 000 lists its resource limits as tested and to preserve: a declared container must
    keep the live container's requests and limits (containers matched by name)."""
    live_containers = {
        c.get("name"): c for c in dig(live, "spec", "template", "spec", "containers") or []
    }
    problems = []
    for container in dig(want, "spec", "template", "spec", "containers") or []:
        live_container = live_containers.get(container.get("name"))
        if live_container is None:
            continue
        was, will = _resources(live_container), _resources(container)
        if was != will:
            problems.append(
                Problem(
                    f"{obj.kind} {obj.name} container {container.get('name')!r}",
                    f"resources would change from live {_shown(live_container)} to declared "
                    f"{_shown(container)}; seed 000 lists them as tested and to preserve",
                    RESOURCES_FIX,
                )
            )
    return problems


def _shown(container: Mapping[str, Any]) -> str:
    return json.dumps(dig(container, "resources") or {}, sort_keys=True)


QUOTA_KEYS = {
    "requests.cpu": "requestsCpu",
    "requests.memory": "requestsMemory",
    "limits.cpu": "limitsCpu",
    "limits.memory": "limitsMemory",
}


def _quota_problems(
    live_items: Sequence[Manifest], desired: Mapping[tuple[str, str], Manifest]
) -> list[Problem]:
    """The quota the stack sets must hold the live pods plus one rolling-update surge pod."""
    quota = next((m for (kind, _), m in desired.items() if kind == "ResourceQuota"), None)
    hard = dig(quota, "spec", "hard") or {}
    problems = []
    for field in ("requests", "limits"):
        live_cpu, live_memory = Decimal(0), 0
        for pod in live_items:
            if pod.get("kind") != "Pod" or dig(pod, "status", "phase") in ("Succeeded", "Failed"):
                continue
            cpu, memory = pod_resources(dig(pod, "spec") or {}, field)
            live_cpu, live_memory = live_cpu + cpu, live_memory + memory
        # A rolling update adds one new pod before an old one goes: room for the largest.
        surge_cpu, surge_memory = Decimal(0), 0
        for (kind, _), body in desired.items():
            if kind in ("Deployment", "StatefulSet"):
                spec = dig(body, "spec", "template", "spec") or {}
                cpu, memory = pod_resources(spec, field)
                surge_cpu, surge_memory = max(surge_cpu, cpu), max(surge_memory, memory)
        over: list[tuple[str, str, str, str]] = []  # key, live, surge, needed
        cpu_key, memory_key = f"{field}.cpu", f"{field}.memory"
        if cpu_key in hard and live_cpu + surge_cpu > _cpu(hard[cpu_key]):
            over.append(
                (
                    cpu_key,
                    format_cpu(live_cpu),
                    format_cpu(surge_cpu),
                    format_cpu(live_cpu + surge_cpu),
                )
            )
        if memory_key in hard and live_memory + surge_memory > _bytes(hard[memory_key]):
            over.append(
                (
                    memory_key,
                    format_bytes(live_memory),
                    format_bytes(surge_memory),
                    format_bytes(live_memory + surge_memory),
                )
            )
        for key, live, surge, needed in over:
            problems.append(
                Problem(
                    "ResourceQuota",
                    f"the live pods' {key} add up to {live} and a rolling update needs {surge} "
                    f"more, above the stack's quota {key} {hard[key]}: new pods would be refused",
                    f"for the adoption run set cluster.quota.{QUOTA_KEYS[key]} to at least "
                    f"{needed}, and lower it once the pods have rolled",
                )
            )
    return problems
