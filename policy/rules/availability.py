"""Availability across the stack: disruption budgets for replicated workloads (mandatory),
autoscalers for workloads marked scalable in production (advisory)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .manifests import pod_labels
from .model import ENVIRONMENT_CONFIG, Resource, Rule, Settings, Violation, dig, is_unknown, mapping

# A workload that can scale out sets this label or annotation to "true"; in production it then
# needs a HorizontalPodAutoscaler (advisory `hpa-for-scalable-workloads`).
SCALABLE_MARKER = "trading.platform/scalable"


def _replicas(value: Any, default: int = 1) -> int | None:
    if value is None:
        return default
    if is_unknown(value) or not isinstance(value, int | float):
        return None
    return int(value)


def autoscalers(resources: Sequence[Resource]) -> dict[tuple[str, str, str], Resource]:
    """(namespace, kind, name) of each HPA's target -> the HPA."""
    found = {}
    for r in resources:
        if r.is_("autoscaling", "HorizontalPodAutoscaler") and not r.third_party:
            target = mapping(dig(r.props, "spec", "scaleTargetRef"))
            kind, name = target.get("kind"), target.get("name")
            if isinstance(kind, str) and isinstance(name, str):
                found[(r.namespace, kind, name)] = r
    return found


def selects(selector: Mapping[str, Any], labels: Mapping[str, Any]) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def check_disruption_budgets(resources: Sequence[Resource], _: Settings) -> list[Violation]:
    hpas = autoscalers(resources)
    budgets = [
        (r.namespace, mapping(dig(r.props, "spec", "selector", "matchLabels")))
        for r in resources
        if r.is_("policy", "PodDisruptionBudget")
    ]
    out = []
    for r in resources:
        if not r.is_("apps", "Deployment", "StatefulSet") or r.third_party:
            continue
        hpa = hpas.get((r.namespace, r.kind, r.object_name))
        if hpa is not None:
            replicas = _replicas(dig(hpa.props, "spec", "minReplicas"))
        else:
            replicas = _replicas(dig(r.props, "spec", "replicas"))
        if replicas is None or replicas <= 1:
            continue
        labels = pod_labels(r)
        if is_unknown(labels) or any(is_unknown(v) for v in labels.values()):
            continue
        if not any(ns == r.namespace and selects(sel, labels) for ns, sel in budgets):
            out.append(
                PDB.violation(
                    r, f"runs {replicas} replicas and no PodDisruptionBudget selects its pods"
                )
            )
    return out


def is_scalable(resource: Resource) -> bool:
    for source in (resource.metadata.get("labels"), resource.metadata.get("annotations")):
        if str(mapping(source).get(SCALABLE_MARKER, "")).lower() == "true":
            return True
    return False


def check_scalable_has_hpa(resources: Sequence[Resource], settings: Settings) -> list[Violation]:
    if not settings.production:
        return []
    hpas = autoscalers(resources)
    return [
        HPA.violation(r, f'is marked {SCALABLE_MARKER}: "true" but has no autoscaler')
        for r in resources
        if r.is_("apps", "Deployment", "StatefulSet")
        and not r.third_party
        and is_scalable(r)
        and (r.namespace, r.kind, r.object_name) not in hpas
    ]


PDB = Rule(
    "pod-disruption-budget",
    "Every Deployment or StatefulSet with more than one replica has a PodDisruptionBudget.",
    "add a PodDisruptionBudget selecting its pods (the workload pattern adds one from two "
    "replicas on)",
    mandatory=True,
    stack_check=check_disruption_budgets,
)
HPA = Rule(
    "hpa-for-scalable-workloads",
    f'In production, workloads marked {SCALABLE_MARKER}: "true" have a HorizontalPodAutoscaler.',
    "configure the workload's `autoscaling` for the production profile, or drop the marker",
    mandatory=False,
    stack_check=check_scalable_has_hpa,
    config=ENVIRONMENT_CONFIG,
)
