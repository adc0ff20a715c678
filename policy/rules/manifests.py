"""Where pods and containers sit in the Kubernetes kinds that have them."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from .model import Resource, dig, mapping, sequence

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
