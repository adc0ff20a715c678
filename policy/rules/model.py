"""The shapes the rules work on: resources, violations, settings, rules; unknown values and
small helpers over manifests."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

# --------------------------------------------------------------------------------------------
# Values that are unknown during a preview. CrossGuard's proxy raises on them; the pack's adapter
# turns them into these sentinel strings (the SDK's own), and the rules skip what they can't see.
UNKNOWN_SENTINELS = frozenset(
    {
        "1c4a061d-8072-4f0a-a4cb-0ff528b18fe7",  # boolean
        "3eeb2bf0-c639-47a8-9e75-3b44932eb421",  # number
        "04da6b54-80e4-46f7-96ec-b56ff0331ba9",  # string
        "6a19a0b0-7e62-4c92-b797-7f8e31da9cc2",  # array
        "030794c1-ac77-496b-92df-f27374a8bd58",  # asset
        "e48ece36-62e2-4504-bad9-02848725956a",  # archive
        "dd056dcd-154b-4c76-9bd3-c8f88648b5ff",  # object
    }
)
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"


def is_unknown(value: Any) -> bool:
    return isinstance(value, str) and value in UNKNOWN_SENTINELS


ENVIRONMENTS = ("local", "production")
Environment = Literal["local", "production"]

# Per-pod ceilings of the advisory `pod-resource-ceiling`, unless the pack config sets them.
# local: a pod must fit comfortably on the one 4-CPU/16-GiB kind node next to the rest.
DEFAULT_CEILINGS: dict[str, tuple[str, str]] = {
    "local": ("2", "4Gi"),
    "production": ("8", "32Gi"),
}

THIRD_PARTY_PARENTS = ("kubernetes:helm.sh/", "kubernetes:yaml", "kubernetes:kustomize")


# --------------------------------------------------------------------------------------------
# The shapes the rules work on.


@dataclass(frozen=True)
class Resource:
    """One resource as the engine registers it: type token, properties, options."""

    type: str
    props: Mapping[str, Any]
    urn: str = ""
    name: str = ""
    protect: bool = False
    parent: str = ""

    @property
    def is_kubernetes_object(self) -> bool:
        return (
            self.type.startswith("kubernetes:")
            and self.type.count(":") == 2
            and not self.type.startswith(("kubernetes:helm.sh/", "kubernetes:yaml"))
            and not self.type.startswith("kubernetes:kustomize")
        )

    @property
    def group(self) -> str:
        """API group of a Kubernetes type token: `apps`, `core`, `batch`, `networking.istio.io`."""
        return self.type.split(":")[1].split("/")[0] if self.type.count(":") == 2 else ""

    @property
    def kind(self) -> str:
        return self.type.rsplit(":", 1)[-1]

    @property
    def metadata(self) -> Mapping[str, Any]:
        return mapping(self.props.get("metadata"))

    @property
    def object_name(self) -> str:
        name = self.metadata.get("name")
        return name if isinstance(name, str) and not is_unknown(name) else self.name

    @property
    def namespace(self) -> str:
        namespace = self.metadata.get("namespace")
        return namespace if isinstance(namespace, str) and not is_unknown(namespace) else ""

    @property
    def label(self) -> str:
        """How messages name the resource: `Deployment aegis-trader/aegis-trader-api`."""
        where = f"{self.namespace}/" if self.namespace else ""
        return f"{self.kind} {where}{self.object_name}"

    @property
    def third_party(self) -> bool:
        """Rendered by an upstream chart or manifest bundle (an ancestor type says so)."""
        parts = self.urn.split("::")
        if len(parts) < 4:
            return False
        ancestors = parts[2].split("$")[:-1]
        return any(t.startswith(THIRD_PARTY_PARENTS) for t in ancestors)

    def is_(self, group: str, *kinds: str) -> bool:
        return self.is_kubernetes_object and self.group == group and self.kind in kinds


@dataclass(frozen=True)
class Violation:
    policy: str
    resource: str
    problem: str
    fix: str
    urn: str = ""
    mandatory: bool = True

    def message(self) -> str:
        return f"[{self.policy}] {self.resource}: {self.problem}. Fix: {self.fix}"


@dataclass(frozen=True)
class Settings:
    """What the rules need to know about the stack, resolved from pack config and the stack."""

    environment: Environment = "local"
    max_pod_cpu: str | None = None
    max_pod_memory: str | None = None

    @property
    def production(self) -> bool:
        return self.environment == "production"

    @property
    def ceilings(self) -> tuple[str, str]:
        cpu, memory = DEFAULT_CEILINGS[self.environment]
        return self.max_pod_cpu or cpu, self.max_pod_memory or memory


ResourceCheck = Callable[[Resource, Settings], list[Violation]]
StackCheck = Callable[[Sequence[Resource], Settings], list[Violation]]


@dataclass(frozen=True)
class Rule:
    name: str
    description: str
    fix: str
    mandatory: bool
    resource_check: ResourceCheck | None = None
    stack_check: StackCheck | None = None
    # JSON-schema properties of the policy's pack config (besides enforcementLevel).
    config: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def violation(self, resource: Resource, problem: str, fix: str | None = None) -> Violation:
        return Violation(
            self.name, resource.label, problem, fix or self.fix, resource.urn, self.mandatory
        )


# --------------------------------------------------------------------------------------------
# Settings resolution: explicit pack config, else the stack's `profile`, else the stack name.


def resolve_environment(
    configured: str | None, profile: str | None = None, stack: str | None = None
) -> Environment:
    """`production` or `local`: pack config `environment` wins (unless `auto`), then the stack's
    `trading-platform:profile`, then a stack name starting with `prod`."""
    if configured in ENVIRONMENTS:
        return "production" if configured == "production" else "local"
    if profile in ENVIRONMENTS:
        return "production" if profile == "production" else "local"
    name = (stack or "").rsplit("/", 1)[-1].lower()
    return "production" if name.startswith("prod") else "local"


def settings_from(
    config: Mapping[str, Any], profile: str | None = None, stack: str | None = None
) -> Settings:
    cpu = config.get("maxPodCpu")
    memory = config.get("maxPodMemory")
    return Settings(
        environment=resolve_environment(config.get("environment"), profile, stack),
        max_pod_cpu=str(cpu) if cpu not in (None, "") else None,
        max_pod_memory=str(memory) if memory not in (None, "") else None,
    )


# --------------------------------------------------------------------------------------------
# Small helpers over manifests.


def mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def sequence(value: Any) -> Sequence[Any]:
    return value if isinstance(value, Sequence) and not isinstance(value, str) else ()


def dig(value: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def present(value: Any) -> bool:
    """Set to something (an unknown counts: it will be set, just not known yet)."""
    return value not in (None, "", {}, [])


# --------------------------------------------------------------------------------------------
# Pack config every environment-aware rule accepts.

ENVIRONMENT_CONFIG = {
    "environment": {
        "type": "string",
        "enum": ["auto", *ENVIRONMENTS],
        "description": (
            "auto: the stack's trading-platform:profile, else production when the stack name "
            "starts with 'prod'"
        ),
    }
}
