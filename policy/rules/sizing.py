"""Resources and sizing: every container requests and limits (mandatory), no pod above the
per-pod ceiling (advisory)."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from .manifests import ContainerRef, containers, pod_spec
from .model import (
    ENVIRONMENT_CONFIG,
    Resource,
    Rule,
    Settings,
    Violation,
    dig,
    is_unknown,
    mapping,
    present,
)
from .quantities import cpu_cores, format_memory, memory_bytes


def check_container_resources(resource: Resource, _: Settings) -> list[Violation]:
    spec = pod_spec(resource)
    if spec is None or resource.third_party:
        return []
    out = []
    for c in containers(spec):
        resources = c.spec.get("resources")
        if is_unknown(resources):
            continue
        missing = [
            path
            for path in ("requests.cpu", "requests.memory", "limits.memory")
            if not present(dig(resources, *path.split(".")))
        ]
        if missing:
            out.append(
                CONTAINER_RESOURCES.violation(
                    resource, f"{c.label} sets no resources.{', resources.'.join(missing)}"
                )
            )
    return out


def pod_footprint(spec: Mapping[str, Any]) -> tuple[Decimal, Decimal]:
    """What one pod may use (limits, else requests): the sum of its long-running containers
    (native sidecars included), or the largest init container if that is bigger."""

    def amount(c: ContainerRef) -> tuple[Decimal, Decimal]:
        res = mapping(c.spec.get("resources"))
        limits, requests = mapping(res.get("limits")), mapping(res.get("requests"))
        cpu = cpu_cores(limits.get("cpu", requests.get("cpu"))) or Decimal(0)
        memory = memory_bytes(limits.get("memory", requests.get("memory"))) or Decimal(0)
        return cpu, memory

    cpu_sum, mem_sum, cpu_init, mem_init = Decimal(0), Decimal(0), Decimal(0), Decimal(0)
    for c in containers(spec):
        cpu, memory = amount(c)
        if c.section == "containers" or c.native_sidecar:
            cpu_sum, mem_sum = cpu_sum + cpu, mem_sum + memory
        else:
            cpu_init, mem_init = max(cpu_init, cpu), max(mem_init, memory)
    return max(cpu_sum, cpu_init), max(mem_sum, mem_init)


def check_pod_ceiling(resource: Resource, settings: Settings) -> list[Violation]:
    spec = pod_spec(resource)
    if spec is None or resource.third_party:
        return []
    cpu, memory = pod_footprint(spec)
    max_cpu, max_memory = settings.ceilings
    out = []
    cpu_limit, memory_limit = cpu_cores(max_cpu), memory_bytes(max_memory)
    if cpu_limit is not None and cpu > cpu_limit:
        out.append(
            POD_CEILING.violation(
                resource, f"one pod may use {cpu.normalize():f} CPU, above the ceiling {max_cpu}"
            )
        )
    if memory_limit is not None and memory > memory_limit:
        out.append(
            POD_CEILING.violation(
                resource,
                f"one pod may use {format_memory(memory)} memory, above the ceiling {max_memory}",
            )
        )
    return out


CONTAINER_RESOURCES = Rule(
    "container-resources",
    "Every container, init containers included, requests CPU and memory and limits memory.",
    "set resources.requests.cpu, resources.requests.memory and resources.limits.memory "
    "(the workload pattern's `Resources`, sized in stacks/profiles/)",
    mandatory=True,
    resource_check=check_container_resources,
)
POD_CEILING = Rule(
    "pod-resource-ceiling",
    "No pod may use more than the per-pod ceiling (pack config maxPodCpu / maxPodMemory).",
    "lower the workload's limits in stacks/profiles/, split it into more replicas, or raise "
    "the ceiling in the pack config if the size is deliberate",
    mandatory=False,
    resource_check=check_pod_ceiling,
    config={
        **ENVIRONMENT_CONFIG,
        "maxPodCpu": {"type": "string", "description": "CPU per pod, e.g. '8' (local: 2)"},
        "maxPodMemory": {"type": "string", "description": "memory per pod (local: 4Gi)"},
    },
)
