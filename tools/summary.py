"""What a recorded stack asks of the cluster: objects per tier, resources, storage."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from components.quantities import format_bytes, format_cpu, parse_bytes, parse_cpu
from tools.offline import Recording

# Long-running or start-up pods count against the node; CronJobs run briefly on a schedule.
POD_OWNERS = ("Deployment", "StatefulSet", "Job")


@dataclass
class Totals:
    cpu_requests: Decimal = Decimal(0)
    memory_requests: int = 0
    cpu_limits: Decimal = Decimal(0)
    memory_limits: int = 0
    storage: int = 0
    objects_per_tier: Counter[str] = field(default_factory=Counter)

    def lines(self) -> list[str]:
        rows = [
            f"  {tier:<24} {count:>4} objects"
            for tier, count in sorted(self.objects_per_tier.items())
        ]
        rows += [
            f"  requests: cpu {format_cpu(self.cpu_requests)}, "
            f"memory {format_bytes(self.memory_requests)}",
            f"  limits:   cpu {format_cpu(self.cpu_limits)}, "
            f"memory {format_bytes(self.memory_limits)}",
            f"  persistent storage: {format_bytes(self.storage)}",
        ]
        return rows


def _pod_resources(pod_spec: dict[str, Any], section: str) -> tuple[Decimal, int]:
    """Effective pod value: the larger of the biggest init container and the sum of the rest
    (how the scheduler counts it)."""

    def of(containers: Iterable[dict[str, Any]]) -> list[tuple[Decimal, int]]:
        values = []
        for c in containers:
            res = (c.get("resources") or {}).get(section) or {}
            values.append((parse_cpu(res.get("cpu", "0")), parse_bytes(res.get("memory", "0"))))
        return values

    inits = pod_spec.get("initContainers") or []
    # Native sidecars (restartPolicy Always) keep running next to the main containers.
    sidecars = [c for c in inits if c.get("restartPolicy") == "Always"]
    plain_inits = [c for c in inits if c.get("restartPolicy") != "Always"]
    main = of(pod_spec.get("containers", [])) + of(sidecars)
    cpu = sum((v[0] for v in main), Decimal(0))
    mem = sum(v[1] for v in main)
    for init_cpu, init_mem in of(plain_inits):
        cpu, mem = max(cpu, init_cpu), max(mem, init_mem)
    return cpu, mem


def replicas_of(manifest: dict[str, Any], hpa_min: dict[tuple[str, str], int]) -> int:
    kind, name = manifest["kind"], manifest["metadata"]["name"]
    if (kind, name) in hpa_min:
        return hpa_min[(kind, name)]
    spec = manifest.get("spec") or {}
    if kind == "Job":
        return int(spec.get("parallelism", 1))
    return int(spec.get("replicas", 1))


def totals(recording: Recording) -> Totals:
    result = Totals()
    manifests = []
    for registration in recording.kubernetes_objects():
        result.objects_per_tier[recording.tier_of(registration)] += 1
        manifests.append(registration.manifest())
    hpa_min = {
        (m["spec"]["scaleTargetRef"]["kind"], m["spec"]["scaleTargetRef"]["name"]): m["spec"][
            "minReplicas"
        ]
        for m in manifests
        if m["kind"] == "HorizontalPodAutoscaler"
    }
    for m in manifests:
        if m["kind"] == "PersistentVolumeClaim":
            result.storage += parse_bytes(m["spec"]["resources"]["requests"]["storage"])
        if m["kind"] not in POD_OWNERS:
            continue
        count = replicas_of(m, hpa_min)
        pod = m["spec"]["template"]["spec"]
        cpu, mem = _pod_resources(pod, "requests")
        cpu_l, mem_l = _pod_resources(pod, "limits")
        result.cpu_requests += cpu * count
        result.memory_requests += mem * count
        result.cpu_limits += cpu_l * count
        result.memory_limits += mem_l * count
        for claim in m["spec"].get("volumeClaimTemplates") or []:
            result.storage += parse_bytes(claim["spec"]["resources"]["requests"]["storage"]) * count
    return result
