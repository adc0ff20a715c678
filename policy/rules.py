"""The platform's policies as pure functions over (resource type, properties, options).

This module imports nothing from Pulumi, so the test suite runs every rule without the CLI and
the policy pack (`policy/__main__.py`) only adapts CrossGuard's arguments to `Resource`.

Every rule is generic: it dispatches on the Kubernetes kind in the type token
(`kubernetes:apps/v1:Deployment`), never on a tier or an object name, so tiers added later are
checked the same way. Objects rendered by an upstream chart or manifest bundle (a resource whose
URN has a `kubernetes:helm.sh/*`, `kubernetes:yaml*` or `kubernetes:kustomize*` ancestor) are out of
scope: the platform sizes and secures them through chart values, reviewed with the chart pin.

A violation names the policy, the resource (`Kind namespace/name`) and the fix.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
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


RECOMMENDED_LABELS = (
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/version",
    "app.kubernetes.io/component",
    "app.kubernetes.io/part-of",
    "app.kubernetes.io/managed-by",
)
SELECTOR_LABELS = frozenset({"app.kubernetes.io/name", "app.kubernetes.io/instance"})

# A workload that can scale out sets this label or annotation to "true"; in production it then
# needs a HorizontalPodAutoscaler (advisory `hpa-for-scalable-workloads`).
SCALABLE_MARKER = "trading.platform/scalable"

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


WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet")
LONG_RUNNING_KINDS = ("Deployment", "StatefulSet", "DaemonSet")


def pod_spec(resource: Resource) -> Mapping[str, Any] | None:
    """The pod spec of any kind that has one (workloads, Jobs, CronJobs, bare Pods)."""
    spec = resource.props.get("spec")
    if resource.is_("apps", *WORKLOAD_KINDS) or resource.is_("batch", "Job"):
        found = dig(spec, "template", "spec")
    elif resource.is_("batch", "CronJob"):
        found = dig(spec, "jobTemplate", "spec", "template", "spec")
    elif resource.is_("core", "Pod"):
        found = spec
    else:
        return None
    return found if isinstance(found, Mapping) else None


def pod_labels(resource: Resource) -> Mapping[str, Any]:
    spec = resource.props.get("spec")
    if resource.is_("batch", "CronJob"):
        return mapping(dig(spec, "jobTemplate", "spec", "template", "metadata", "labels"))
    if resource.is_("core", "Pod"):
        return mapping(resource.metadata.get("labels"))
    return mapping(dig(spec, "template", "metadata", "labels"))


@dataclass(frozen=True)
class ContainerRef:
    section: Literal["containers", "initContainers"]
    spec: Mapping[str, Any]

    @property
    def name(self) -> str:
        name = self.spec.get("name")
        return name if isinstance(name, str) else "?"

    @property
    def label(self) -> str:
        kind = "init container" if self.section == "initContainers" else "container"
        return f"{kind} {self.name!r}"

    @property
    def native_sidecar(self) -> bool:
        return self.section == "initContainers" and self.spec.get("restartPolicy") == "Always"


def containers(spec: Mapping[str, Any]) -> Iterator[ContainerRef]:
    """Init containers, then the pod's containers (ephemeral containers are never declared)."""
    for container in sequence(spec.get("initContainers")):
        if isinstance(container, Mapping):
            yield ContainerRef("initContainers", container)
    for container in sequence(spec.get("containers")):
        if isinstance(container, Mapping):
            yield ContainerRef("containers", container)


def present(value: Any) -> bool:
    """Set to something (an unknown counts: it will be set, just not known yet)."""
    return value not in (None, "", {}, [])


# --------------------------------------------------------------------------------------------
# Quantities (self-contained: the pack runs without the program's packages).

_CPU = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(m?)$")
_BYTES = re.compile(r"^([0-9]+(?:\.[0-9]+)?)([KMGTPE]i?|k|m)?$")
_BYTE_UNITS = {
    None: 1,
    "k": 10**3,
    "K": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "P": 10**15,
    "E": 10**18,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
    "Pi": 2**50,
    "Ei": 2**60,
}


def cpu_cores(value: Any) -> Decimal | None:
    match = _CPU.match(str(value).strip()) if value is not None else None
    if not match:
        return None
    try:
        number = Decimal(match[1])
    except InvalidOperation:
        return None
    return number / 1000 if match[2] == "m" else number


def memory_bytes(value: Any) -> Decimal | None:
    match = _BYTES.match(str(value).strip()) if value is not None else None
    if not match:
        return None
    if match[2] == "m":  # milli-bytes, legal but odd
        return Decimal(match[1]) / 1000
    return Decimal(match[1]) * _BYTE_UNITS[match[2]]


def format_memory(value: Decimal) -> str:
    gib = value / 2**30
    return f"{gib.normalize():f}Gi" if gib >= 1 else f"{(value / 2**20).normalize():f}Mi"


# --------------------------------------------------------------------------------------------
# Mandatory resource rules.


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


def image_problem(image: Any) -> str | None:
    """Why an image reference isn't pinned, or None when it is (tag other than latest, digest)."""
    if is_unknown(image):
        return None
    if not isinstance(image, str) or not image.strip():
        return "has no image"
    if "@sha256:" in image:
        return None
    last = image.rsplit("/", 1)[-1]
    if ":" not in last:
        return f"uses the untagged image {image!r} (which means :latest)"
    if last.rsplit(":", 1)[1] == "latest":
        return f"uses the moving tag in {image!r}"
    return None


def check_pinned_images(resource: Resource, _: Settings) -> list[Violation]:
    spec = pod_spec(resource)
    if spec is None or resource.third_party:
        return []
    out = []
    for c in containers(spec):
        problem = image_problem(c.spec.get("image"))
        if problem:
            out.append(PINNED_IMAGES.violation(resource, f"{c.label} {problem}"))
    return out


def check_security_context(resource: Resource, _: Settings) -> list[Violation]:
    spec = pod_spec(resource)
    if spec is None or resource.third_party:
        return []
    pod = mapping(spec.get("securityContext"))
    out = []
    for c in containers(spec):
        ctx = mapping(c.spec.get("securityContext"))
        problems = []
        non_root = ctx.get("runAsNonRoot", pod.get("runAsNonRoot"))
        user = ctx.get("runAsUser", pod.get("runAsUser"))
        if not (is_unknown(non_root) or is_unknown(user)):
            if user == 0 or non_root is False:
                problems.append("runs as root")
            elif non_root is not True and not (isinstance(user, int | float) and user > 0):
                problems.append("does not set runAsNonRoot: true (or a non-zero runAsUser)")
        read_only = ctx.get("readOnlyRootFilesystem")
        if read_only is not True and not is_unknown(read_only):
            problems.append("does not set readOnlyRootFilesystem: true")
        escalation = ctx.get("allowPrivilegeEscalation")
        if escalation is not False and not is_unknown(escalation):
            problems.append("does not set allowPrivilegeEscalation: false")
        if ctx.get("privileged") is True:
            problems.append("is privileged")
        if problems:
            out.append(SECURITY_CONTEXT.violation(resource, f"{c.label} {'; '.join(problems)}"))
    return out


def check_health_probes(resource: Resource, _: Settings) -> list[Violation]:
    if not resource.is_("apps", *LONG_RUNNING_KINDS) or resource.third_party:
        return []
    spec = pod_spec(resource)
    if spec is None:
        return []
    out = []
    for c in containers(spec):
        if c.section != "containers":
            continue  # init containers run to completion; native sidecars are exempt too
        missing = [p for p in ("livenessProbe", "readinessProbe") if not present(c.spec.get(p))]
        if missing:
            out.append(
                HEALTH_PROBES.violation(resource, f"{c.label} has no {' or '.join(missing)}")
            )
    return out


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


def check_no_nodeport(resource: Resource, _: Settings) -> list[Violation]:
    if not resource.is_("core", "Service") or resource.third_party:
        return []
    if dig(resource.props, "spec", "type") == "NodePort":
        return [NO_NODEPORT.violation(resource, "is of type NodePort")]
    return []


# Name tokens that mark a credential; a name ending in one of SAFE_SUFFIXES only refers to one.
CREDENTIAL_WORDS = frozenset(
    {
        "PASSWORD",
        "PASSWD",
        "PWD",
        "PASS",
        "PASSPHRASE",
        "SECRET",
        "TOKEN",
        "CREDENTIAL",
        "CREDENTIALS",
        "APIKEY",
        "PRIVATEKEY",
    }
)
SAFE_SUFFIXES = frozenset(
    {"NAME", "FILE", "PATH", "DIR", "REF", "URL", "URI", "ENABLED", "LENGTH", "TTL", "ID", "KEYS"}
)
_REFERENCE = re.compile(r"^\$(\(|\{)?[A-Za-z_][A-Za-z0-9_]*(\)|\})?$")
# scheme://user:password@host with a literal password (not `$(VAR)` / `${VAR}` / `$VAR`).
_URL_PASSWORD = re.compile(r"[a-z][a-z0-9+.-]*://[^\s:/@]*:(?!\$)([^\s@/]+)@", re.IGNORECASE)


def name_tokens(name: str) -> list[str]:
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name)
    return [t for t in re.split(r"[^A-Za-z0-9]+", spaced.upper()) if t]


def is_credential_name(name: str) -> bool:
    tokens = name_tokens(name)
    if not tokens or tokens[-1] in SAFE_SUFFIXES:
        return False
    return bool(CREDENTIAL_WORDS.intersection(tokens)) or tokens[-1] == "KEY"


def literal_credential(name: str, value: Any) -> str | None:
    """Why `name: value` holds a plaintext credential, or None."""
    if not isinstance(value, str) or is_unknown(value) or not value.strip():
        return None
    if is_credential_name(name) and not _REFERENCE.match(value.strip()):
        return f"{name!r} holds a literal value"
    if _URL_PASSWORD.search(value):
        return f"{name!r} holds a URL with a literal password"
    return None


def check_plaintext_credentials(resource: Resource, _: Settings) -> list[Violation]:
    if resource.third_party:
        return []
    out = []
    if resource.is_("core", "ConfigMap"):
        for key, value in mapping(resource.props.get("data")).items():
            problem = literal_credential(key, value)
            if problem:
                out.append(PLAINTEXT_CREDENTIALS.violation(resource, f"data key {problem}"))
        return out
    spec = pod_spec(resource)
    if spec is None:
        return []
    for c in containers(spec):
        for env in sequence(c.spec.get("env")):
            env = mapping(env)
            name = env.get("name")
            if isinstance(name, str):
                problem = literal_credential(name, env.get("value"))
                if problem:
                    out.append(
                        PLAINTEXT_CREDENTIALS.violation(resource, f"{c.label} env {problem}")
                    )
    return out


# --------------------------------------------------------------------------------------------
# Mandatory stack rules.


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


def check_data_protected(resources: Sequence[Resource], settings: Settings) -> list[Violation]:
    if not settings.production:
        return []
    out = []
    for r in resources:
        if r.third_party:
            continue
        if r.is_("apps", "StatefulSet"):
            claims = dig(r.props, "spec", "volumeClaimTemplates")
            if not present(claims) or is_unknown(claims):
                continue
            if not r.protect:
                out.append(
                    PROTECT_DATA.violation(
                        r, "holds volume claims in production but is not protected"
                    )
                )
            retention = dig(r.props, "spec", "persistentVolumeClaimRetentionPolicy", "whenDeleted")
            if retention == "Delete":
                out.append(
                    PROTECT_DATA.violation(
                        r,
                        "deletes its volume claims with the StatefulSet "
                        "(persistentVolumeClaimRetentionPolicy.whenDeleted: Delete)",
                        "set persistentVolumeClaimRetentionPolicy.whenDeleted: Retain "
                        "(cluster.protectData: true does)",
                    )
                )
        elif r.is_("core", "PersistentVolumeClaim") and not r.protect:
            out.append(PROTECT_DATA.violation(r, "is a volume claim in production, not protected"))
    return out


# --------------------------------------------------------------------------------------------
# Advisory rules.


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


# --------------------------------------------------------------------------------------------
# The rules, as the pack registers them.

_ENVIRONMENT = {
    "environment": {
        "type": "string",
        "enum": ["auto", *ENVIRONMENTS],
        "description": (
            "auto: the stack's trading-platform:profile, else production when the stack name "
            "starts with 'prod'"
        ),
    }
}

CONTAINER_RESOURCES = Rule(
    "container-resources",
    "Every container, init containers included, requests CPU and memory and limits memory.",
    "set resources.requests.cpu, resources.requests.memory and resources.limits.memory "
    "(the workload pattern's `Resources`, sized in stacks/profiles/)",
    mandatory=True,
    resource_check=check_container_resources,
)
PINNED_IMAGES = Rule(
    "pinned-images",
    "No container image is untagged or tagged `latest`.",
    "pin a version tag or digest (stacks/versions.py, or the images' `tag` setting)",
    mandatory=True,
    resource_check=check_pinned_images,
)
SECURITY_CONTEXT = Rule(
    "restricted-security-context",
    "Containers run as non-root with a read-only root filesystem and no privilege escalation.",
    "set securityContext runAsNonRoot: true, readOnlyRootFilesystem: true and "
    "allowPrivilegeEscalation: false (the workload pattern's `Security`; mount an emptyDir "
    "where the image writes)",
    mandatory=True,
    resource_check=check_security_context,
)
HEALTH_PROBES = Rule(
    "health-probes",
    "Long-running containers (Deployments, StatefulSets, DaemonSets) have liveness and "
    "readiness probes.",
    "add livenessProbe and readinessProbe (the workload pattern's `Probes`)",
    mandatory=True,
    resource_check=check_health_probes,
)
LABELS = Rule(
    "recommended-labels",
    "Objects carry the recommended app.kubernetes.io labels; selectors use name + instance only.",
    "build metadata with Platform.metadata() so name, instance, version, component, part-of "
    "and managed-by are set",
    mandatory=True,
    resource_check=check_labels,
)
NO_NODEPORT = Rule(
    "no-nodeport-services",
    "No Service is of type NodePort.",
    "use ClusterIP (kubectl port-forward on kind) or LoadBalancer, or publish through the "
    "ingress / mesh gateway",
    mandatory=True,
    resource_check=check_no_nodeport,
)
PLAINTEXT_CREDENTIALS = Rule(
    "no-plaintext-credentials",
    "No ConfigMap value or container env value holds a literal credential.",
    "keep the value in a Secret and reference it (env valueFrom.secretKeyRef, the workload "
    "pattern's `SecretEnv`, or a mounted Secret file)",
    mandatory=True,
    resource_check=check_plaintext_credentials,
)
PDB = Rule(
    "pod-disruption-budget",
    "Every Deployment or StatefulSet with more than one replica has a PodDisruptionBudget.",
    "add a PodDisruptionBudget selecting its pods (the workload pattern adds one from two "
    "replicas on)",
    mandatory=True,
    stack_check=check_disruption_budgets,
)
PROTECT_DATA = Rule(
    "protect-data-in-production",
    "In production, StatefulSets with volume claims and PersistentVolumeClaims are protected "
    "and keep their claims.",
    "set cluster.protectData: true for the stack (protect + retainOnDelete + PVC retention "
    "Retain), or pass protect=True to the resource",
    mandatory=True,
    stack_check=check_data_protected,
    config=_ENVIRONMENT,
)
POD_CEILING = Rule(
    "pod-resource-ceiling",
    "No pod may use more than the per-pod ceiling (pack config maxPodCpu / maxPodMemory).",
    "lower the workload's limits in stacks/profiles/, split it into more replicas, or raise "
    "the ceiling in the pack config if the size is deliberate",
    mandatory=False,
    resource_check=check_pod_ceiling,
    config={
        **_ENVIRONMENT,
        "maxPodCpu": {"type": "string", "description": "CPU per pod, e.g. '8' (local: 2)"},
        "maxPodMemory": {"type": "string", "description": "memory per pod (local: 4Gi)"},
    },
)
HPA = Rule(
    "hpa-for-scalable-workloads",
    f'In production, workloads marked {SCALABLE_MARKER}: "true" have a HorizontalPodAutoscaler.',
    "configure the workload's `autoscaling` for the production profile, or drop the marker",
    mandatory=False,
    stack_check=check_scalable_has_hpa,
    config=_ENVIRONMENT,
)

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
