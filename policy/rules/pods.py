"""How pods run: a restricted security context, and health probes on long-running containers."""

from __future__ import annotations

from .manifests import LONG_RUNNING_KINDS, containers, pod_spec
from .model import Resource, Rule, Settings, Violation, is_unknown, mapping, present


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
