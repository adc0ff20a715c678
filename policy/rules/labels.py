"""Recommended app.kubernetes.io labels on every object; selectors on name + instance only."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .manifests import WORKLOAD_KINDS
from .model import Resource, Rule, Settings, Violation, dig, is_unknown, mapping, present

RECOMMENDED_LABELS = (
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/version",
    "app.kubernetes.io/component",
    "app.kubernetes.io/part-of",
    "app.kubernetes.io/managed-by",
)
SELECTOR_LABELS = frozenset({"app.kubernetes.io/name", "app.kubernetes.io/instance"})


def _selector_problem(selector: Any, where: str) -> str | None:
    if selector is None or is_unknown(selector):
        return None
    if not isinstance(selector, Mapping):
        return None
    keys = {k for k in selector if not is_unknown(k)}
    if keys != SELECTOR_LABELS:
        return (
            f"{where} selects on {sorted(keys)}; selectors are immutable and must be exactly "
            "app.kubernetes.io/name + app.kubernetes.io/instance"
        )
    return None


def check_labels(resource: Resource, _: Settings) -> list[Violation]:
    if not resource.is_kubernetes_object or resource.third_party:
        return []
    out = []
    labels = resource.metadata.get("labels")
    if not is_unknown(labels):
        labels = mapping(labels)
        missing = [k for k in RECOMMENDED_LABELS if not present(labels.get(k))]
        if missing:
            out.append(LABELS.violation(resource, f"metadata.labels lack {', '.join(missing)}"))
    spec = mapping(resource.props.get("spec"))
    problems: list[str | None] = []
    if resource.is_("apps", *WORKLOAD_KINDS) or resource.is_("policy", "PodDisruptionBudget"):
        selector = spec.get("selector")
        if isinstance(selector, Mapping) and present(selector.get("matchExpressions")):
            problems.append("spec.selector uses matchExpressions")
        problems.append(_selector_problem(dig(selector, "matchLabels"), "spec.selector"))
    elif resource.is_("core", "Service"):
        problems.append(_selector_problem(spec.get("selector"), "spec.selector"))
    for problem in problems:
        if problem:
            out.append(
                LABELS.violation(
                    resource,
                    problem,
                    "select on the selector labels only (components/naming.selector_labels); "
                    "put the other recommended labels on metadata",
                )
            )
    return out


LABELS = Rule(
    "recommended-labels",
    "Objects carry the recommended app.kubernetes.io labels; selectors use name + instance only.",
    "build metadata with Platform.metadata() so name, instance, version, component, part-of "
    "and managed-by are set",
    mandatory=True,
    resource_check=check_labels,
)
