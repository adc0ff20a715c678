"""Reading manifests, live or declared: fields by path, objects by (kind, name), pod resources and
Helm's release records."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from components.quantities import parse_bytes, parse_cpu
from tools.adopt.model import HELM_SECRET_PREFIX, Manifest
from tools.offline import Recording


def dig(value: Any, *path: str | int) -> Any:
    for key in path:
        if isinstance(key, int):
            if not isinstance(value, list) or len(value) <= key:
                return None
            value = value[key]
        elif isinstance(value, Mapping):
            value = value.get(key)
        else:
            return None
    return value


def index(items: Iterable[Manifest]) -> dict[tuple[str, str], Manifest]:
    return {(i.get("kind", ""), dig(i, "metadata", "name") or ""): i for i in items}


def desired_objects(recording: Recording, namespace: str) -> dict[tuple[str, str], Manifest]:
    """(kind, name) -> manifest of every object the stack declares in `namespace`."""
    found = {}
    for registration in recording.kubernetes_objects():
        body = registration.manifest()
        if dig(body, "metadata", "namespace") == namespace:
            found[(registration.kind, registration.object_name or "")] = body
    return found


def pod_template_labels(workload: Manifest) -> Mapping[str, Any]:
    return dig(workload, "spec", "template", "metadata", "labels") or {}


def _cpu(value: Any) -> Decimal:
    try:
        return parse_cpu(value) if value is not None else Decimal(0)
    except ValueError:
        return Decimal(0)


def _bytes(value: Any) -> int:
    try:
        return parse_bytes(value) if value is not None else 0
    except ValueError:
        return 0


def pod_resources(pod_spec: Mapping[str, Any], field: str = "requests") -> tuple[Decimal, int]:
    """CPU and memory one pod counts against a quota for `field` (requests or limits): its
    containers, or its largest init container when that is more."""
    cpu, memory, init_cpu, init_memory = Decimal(0), 0, Decimal(0), 0
    for c in pod_spec.get("containers") or []:
        cpu += _cpu(dig(c, "resources", field, "cpu"))
        memory += _bytes(dig(c, "resources", field, "memory"))
    for c in pod_spec.get("initContainers") or []:
        init_cpu = max(init_cpu, _cpu(dig(c, "resources", field, "cpu")))
        init_memory = max(init_memory, _bytes(dig(c, "resources", field, "memory")))
    return max(cpu, init_cpu), max(memory, init_memory)


def _helm_revisions(live_items: Sequence[Manifest]) -> list[int]:
    revisions = []
    for item in live_items:
        name = dig(item, "metadata", "name") or ""
        if item.get("kind") == "Secret" and name.startswith(HELM_SECRET_PREFIX):
            suffix = name[len(HELM_SECRET_PREFIX) :]
            if suffix.isdigit():
                revisions.append(int(suffix))
    return sorted(revisions)
