"""One builder for the platform's Jobs and CronJobs (the workload pattern's batch half).

Every one gets: its own ServiceAccount named after its component (mesh authorization names it;
no API token mounted) and its NetworkPolicy from the dependency graph, where the Job is declared
as a caller; a pod with the restricted security, no restarts inside the pod (the Job's backoff
retries) and a writable /tmp; the recommended labels, and the selector labels on its pods. A Job
is replaced (re-run) on the next update when a run failed; a CronJob runs in UTC, one run at a
time, and keeps three finished Jobs of each outcome.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import pulumi
import pulumi_kubernetes as k8s

from components.graph import DependencyGraph
from components.kube import kube
from components.network import workload_policy_spec
from components.workload import (
    Container,
    Manifest,
    Mount,
    Platform,
    Scratch,
    Security,
    container_manifest,
)

# A failed run is replaced (re-run) on the next update instead of awaited again.
REPLACE_UNREADY = {"pulumi.com/replaceUnready": "true"}


@dataclass(frozen=True)
class BatchArgs:
    """A Job's or CronJob's pod: `component` names its graph node, its objects, its selector
    labels and its ServiceAccount."""

    platform: Platform
    graph: DependencyGraph
    component: str
    tier: str
    container: Container
    security: Security = field(default_factory=Security)
    volumes: tuple[Manifest, ...] = ()


def batch_pod_spec(
    platform: Platform,
    containers: Sequence[Container],
    *,
    security: Security | None = None,
    scratch: Sequence[Scratch] = (Scratch("tmp", "/tmp"),),
    volumes: Sequence[Manifest] = (),
) -> Manifest:
    """Pod spec for Jobs and CronJobs: the same restricted security, no API token, no restarts
    inside the pod (the Job's backoff retries)."""
    security = security or Security()
    mounts = tuple(Mount(s.name, s.path) for s in scratch)
    return {
        "restartPolicy": "Never",
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": security.pod(),
        "containers": [
            container_manifest(
                replace(c, mounts=mounts + c.mounts), security, platform.image_pull_policy, None
            )
            for c in containers
        ],
        "volumes": [s.volume() for s in scratch] + list(volumes),
    }


def pod_template(args: BatchArgs) -> Manifest:
    platform = args.platform
    spec = batch_pod_spec(platform, [args.container], security=args.security, volumes=args.volumes)
    return {
        "metadata": {"labels": platform.selector(args.component)},
        "spec": {**spec, "serviceAccountName": platform.name(args.component)},
    }


def batch_identity(name: str, args: BatchArgs, parent: pulumi.Resource) -> None:
    """The ServiceAccount `{release}-{component}` and the NetworkPolicy the graph gives it."""
    platform, component = args.platform, args.component
    opts = pulumi.ResourceOptions(parent=parent)
    kube(
        k8s.core.v1.ServiceAccount,
        f"{name}-{component}-sa",
        metadata=platform.metadata(component, tier=args.tier),
        automount_service_account_token=False,
        opts=opts,
    )
    kube(
        k8s.networking.v1.NetworkPolicy,
        f"{name}-{component}-netpol",
        metadata=platform.metadata(component, tier=args.tier),
        spec=workload_policy_spec(
            platform.selector(component), platform.access(args.graph, component)
        ),
        opts=opts,
    )


def job(
    name: str,
    args: BatchArgs,
    parent: pulumi.Resource,
    *,
    backoff_limit: int,
    deadline_seconds: int = 900,
    depends_on: Sequence[pulumi.Resource] = (),
    timeout: str | None = None,
) -> k8s.batch.v1.Job:
    """The Job `{release}-{component}` (logical `{name}-{component}`) with its identity; it
    starts after `depends_on`, and `timeout` bounds Pulumi's wait for it to complete."""
    batch_identity(name, args, parent)
    return kube(
        k8s.batch.v1.Job,
        f"{name}-{args.component}",
        metadata=args.platform.metadata(
            args.component, tier=args.tier, annotations=dict(REPLACE_UNREADY)
        ),
        spec={
            "backoffLimit": backoff_limit,
            "activeDeadlineSeconds": deadline_seconds,
            "template": pod_template(args),
        },
        opts=pulumi.ResourceOptions(
            parent=parent,
            depends_on=list(depends_on),
            custom_timeouts=(
                pulumi.CustomTimeouts(create=timeout, update=timeout) if timeout else None
            ),
        ),
    )


def cron_job(
    name: str,
    args: BatchArgs,
    parent: pulumi.Resource,
    *,
    schedule: str,
    deadline_seconds: int = 3600,
) -> k8s.batch.v1.CronJob:
    """The CronJob `{release}-{component}` (logical `{name}-{component}`) with its identity."""
    batch_identity(name, args, parent)
    pod = pod_template(args)
    return kube(
        k8s.batch.v1.CronJob,
        f"{name}-{args.component}",
        metadata=args.platform.metadata(args.component, tier=args.tier),
        spec={
            "schedule": schedule,
            "timeZone": "Etc/UTC",
            "concurrencyPolicy": "Forbid",
            "startingDeadlineSeconds": 600,
            "successfulJobsHistoryLimit": 3,
            "failedJobsHistoryLimit": 3,
            "jobTemplate": {
                "metadata": {"labels": pod["metadata"]["labels"]},
                "spec": {
                    "backoffLimit": 2,
                    "activeDeadlineSeconds": deadline_seconds,
                    "template": pod,
                },
            },
        },
        opts=pulumi.ResourceOptions(parent=parent),
    )
