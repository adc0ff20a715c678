"""Seed 000's release and inventory, and the Problem every check reports."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

RELEASE = "aegis-trader"
HELM_REVISION = 7  # seed 000: revision 7, deployed
HELM_SECRET_PREFIX = f"sh.helm.release.v1.{RELEASE}.v"
HELM_SECRET = f"{HELM_SECRET_PREFIX}{HELM_REVISION}"
# Only `get`: the check changes nothing. Secrets are listed by Helm's labels, and only their
# names are kept.
LIVE_KINDS = "statefulsets,deployments,services,jobs,persistentvolumeclaims,pods"

Manifest = dict[str, Any]


@dataclass(frozen=True)
class SeedObject:
    """One object of seed 000's inventory: kind, name, selector component, documented ports."""

    kind: str
    name: str
    component: str
    tier: str
    ports: tuple[int, ...] = ()

    @property
    def selector(self) -> dict[str, str]:
        return {"app.kubernetes.io/name": self.component, "app.kubernetes.io/instance": RELEASE}

    @property
    def label(self) -> str:
        return f"{self.kind} {self.name}"


SEED_000: tuple[SeedObject, ...] = (
    SeedObject("StatefulSet", "aegis-trader-nats", "nats", "message bus"),
    SeedObject("Service", "aegis-trader-nats", "nats", "message bus", (4222,)),
    SeedObject("Service", "aegis-trader-nats-headless", "nats", "message bus"),
    SeedObject("Deployment", "aegis-trader-monitor-api", "monitor-api", "ui"),
    SeedObject("Service", "aegis-trader-monitor-api", "monitor-api", "ui", (8100,)),
    SeedObject("Deployment", "aegis-trader-monitor-ui", "monitor-ui", "ui"),
    SeedObject("Service", "aegis-trader-monitor-ui", "monitor-ui", "ui", (3100,)),
    SeedObject("Deployment", "aegis-trader-nats-box", "nats-box", "message bus"),
    SeedObject("Job", "aegis-trader-create-kv-bucket", "create-kv-bucket", "message bus"),
)


@dataclass(frozen=True)
class Problem:
    """`blocking`: stop here. Otherwise a step the operator accepted (`--recreate`) and must run."""

    subject: str
    problem: str
    fix: str
    blocking: bool = True

    def message(self) -> str:
        return f"{self.subject}: {self.problem}. {'Fix' if self.blocking else 'Step'}: {self.fix}"
