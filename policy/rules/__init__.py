"""The platform's policies as pure functions over (resource type, properties, options).

This package imports nothing from Pulumi, so the test suite runs every rule without the CLI and
the policy pack (`policy/__main__.py`) only adapts CrossGuard's arguments to `Resource`.

Every rule is generic: it dispatches on the Kubernetes kind in the type token
(`kubernetes:apps/v1:Deployment`), never on a tier or an object name, so tiers added later are
checked the same way. Objects rendered by an upstream chart or manifest bundle (a resource whose
URN has a `kubernetes:helm.sh/*`, `kubernetes:yaml*` or `kubernetes:kustomize*` ancestor) are out of
scope: the platform sizes and secures them through chart values, reviewed with the chart pin.

A violation names the policy, the resource (`Kind namespace/name`) and the fix.

One area per module, each rule (its check and its `Rule`) beside its helpers: `model` (the shapes:
`Resource`, `Violation`, `Settings`, `Rule`; unknown values; settings resolution), `manifests`
(pod specs, labels and containers of the kinds that have them), `quantities` (CPU and memory),
`sizing` (container-resources, pod-resource-ceiling), `images` (pinned-images), `pods`
(restricted-security-context, health-probes), `labels` (recommended-labels), `exposure`
(no-nodeport-services), `credentials` (no-plaintext-credentials), `availability`
(pod-disruption-budget, hpa-for-scalable-workloads), `data` (protect-data-in-production),
`registry` (`RULES` in the pack's order, `evaluate`). Imports inside the package are relative, so
it also loads as the top-level `rules` of a standalone pack.
"""

from .availability import (
    HPA,
    PDB,
    SCALABLE_MARKER,
    autoscalers,
    check_disruption_budgets,
    check_scalable_has_hpa,
    is_scalable,
    selects,
)
from .credentials import (
    CREDENTIAL_WORDS,
    PLAINTEXT_CREDENTIALS,
    SAFE_SUFFIXES,
    check_plaintext_credentials,
    is_credential_name,
    literal_credential,
    name_tokens,
)
from .data import (
    PROTECT_DATA,
    check_data_protected,
)
from .exposure import (
    NO_NODEPORT,
    check_no_nodeport,
)
from .images import (
    PINNED_IMAGES,
    check_pinned_images,
    image_problem,
)
from .labels import (
    LABELS,
    RECOMMENDED_LABELS,
    SELECTOR_LABELS,
    check_labels,
)
from .manifests import (
    LONG_RUNNING_KINDS,
    WORKLOAD_KINDS,
    ContainerRef,
    containers,
    pod_labels,
    pod_spec,
)
from .model import (
    DEFAULT_CEILINGS,
    ENVIRONMENT_CONFIG,
    ENVIRONMENTS,
    THIRD_PARTY_PARENTS,
    UNKNOWN,
    UNKNOWN_SENTINELS,
    Environment,
    Resource,
    ResourceCheck,
    Rule,
    Settings,
    StackCheck,
    Violation,
    dig,
    is_unknown,
    mapping,
    present,
    resolve_environment,
    sequence,
    settings_from,
)
from .pods import (
    HEALTH_PROBES,
    SECURITY_CONTEXT,
    check_health_probes,
    check_security_context,
)
from .quantities import (
    cpu_cores,
    format_memory,
    memory_bytes,
)
from .registry import (
    RULES,
    evaluate,
)
from .sizing import (
    CONTAINER_RESOURCES,
    POD_CEILING,
    check_container_resources,
    check_pod_ceiling,
    pod_footprint,
)

__all__ = [
    "CONTAINER_RESOURCES",
    "CREDENTIAL_WORDS",
    "DEFAULT_CEILINGS",
    "ENVIRONMENTS",
    "ENVIRONMENT_CONFIG",
    "HEALTH_PROBES",
    "HPA",
    "LABELS",
    "LONG_RUNNING_KINDS",
    "NO_NODEPORT",
    "PDB",
    "PINNED_IMAGES",
    "PLAINTEXT_CREDENTIALS",
    "POD_CEILING",
    "PROTECT_DATA",
    "RECOMMENDED_LABELS",
    "RULES",
    "SAFE_SUFFIXES",
    "SCALABLE_MARKER",
    "SECURITY_CONTEXT",
    "SELECTOR_LABELS",
    "THIRD_PARTY_PARENTS",
    "UNKNOWN",
    "UNKNOWN_SENTINELS",
    "WORKLOAD_KINDS",
    "ContainerRef",
    "Environment",
    "Resource",
    "ResourceCheck",
    "Rule",
    "Settings",
    "StackCheck",
    "Violation",
    "autoscalers",
    "check_container_resources",
    "check_data_protected",
    "check_disruption_budgets",
    "check_health_probes",
    "check_labels",
    "check_no_nodeport",
    "check_pinned_images",
    "check_plaintext_credentials",
    "check_pod_ceiling",
    "check_scalable_has_hpa",
    "check_security_context",
    "containers",
    "cpu_cores",
    "dig",
    "evaluate",
    "format_memory",
    "image_problem",
    "is_credential_name",
    "is_scalable",
    "is_unknown",
    "literal_credential",
    "mapping",
    "memory_bytes",
    "name_tokens",
    "pod_footprint",
    "pod_labels",
    "pod_spec",
    "present",
    "resolve_environment",
    "selects",
    "sequence",
    "settings_from",
]
