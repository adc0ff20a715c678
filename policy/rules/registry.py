"""The rules, as the pack registers them (in this order), and how the pack runs them."""

from __future__ import annotations

from collections.abc import Sequence

from .availability import HPA, PDB
from .credentials import PLAINTEXT_CREDENTIALS
from .data import PROTECT_DATA
from .exposure import NO_NODEPORT
from .images import PINNED_IMAGES
from .labels import LABELS
from .model import Resource, Rule, Settings, Violation
from .pods import HEALTH_PROBES, SECURITY_CONTEXT
from .sizing import CONTAINER_RESOURCES, POD_CEILING

RULES: tuple[Rule, ...] = (
    CONTAINER_RESOURCES,
    PINNED_IMAGES,
    SECURITY_CONTEXT,
    HEALTH_PROBES,
    LABELS,
    NO_NODEPORT,
    PLAINTEXT_CREDENTIALS,
    PDB,
    PROTECT_DATA,
    POD_CEILING,
    HPA,
)


def evaluate(
    resources: Sequence[Resource], settings: Settings, rules: Sequence[Rule] = RULES
) -> list[Violation]:
    """Every rule over every resource, the way the pack runs them."""
    out: list[Violation] = []
    for rule in rules:
        if rule.resource_check is not None:
            for resource in resources:
                out.extend(rule.resource_check(resource, settings))
        if rule.stack_check is not None:
            out.extend(rule.stack_check(resources, settings))
    return out
