"""What the data stores' parts share: names, ports and paths, the graph nodes, and the `Scope`
every part builds its children in (credentials, backups, the Jobs' identities)."""

from __future__ import annotations

from dataclasses import dataclass, replace

import pulumi
import pulumi_kubernetes as k8s

from components.datastores.args import POSTGRES_PORT, BackupArgs, Volume
from components.graph import DependencyGraph, Node, ServicePort
from components.kube import kube
from components.network import workload_policy_spec
from components.secrets import CredentialArgs, Credentials, DerivedKey
from components.workload import (
    Container,
    Manifest,
    Mount,
    Platform,
    Probe,
    Probes,
    Security,
    batch_pod_spec,
)

POSTGRES = "postgres"
REDIS = "redis"
REDIS_PORT = ServicePort("redis", 6379)
REDIS_BUS_PORT = ServicePort("cluster-bus", 16379)
POSTGRES_METRICS = ServicePort("metrics", 9187)
REDIS_METRICS = ServicePort("metrics", 9121)
SUPERUSER = "postgres"
# Seed 001's tooling Secret (runbooks read these keys); `{release}-trading-secrets`.
TRADING_SECRETS = "trading-secrets"
BACKUPS = "/backups"
PASSWORD_LENGTH = 32
# Read-only for the owner and the pod's fsGroup.
SECRET_MODE = 0o440

JOB_ANNOTATIONS = {"pulumi.com/replaceUnready": "true"}

# The tier's own Jobs call the stores: declared in the graph, they get ingress like any caller.
POSTGRES_BACKUP = "postgres-backup"
POSTGRES_DATABASES = "postgres-databases"
REDIS_BACKUP = "redis-backup"
REDIS_CLUSTER_INIT = "redis-cluster-init"


def datastore_nodes(
    platform: Platform,
    *,
    postgres_port: int = POSTGRES_PORT,
    postgres_backup: bool = False,
    redis_backup: bool = False,
    redis_cluster: bool = False,
) -> list[Node]:
    """The graph nodes: "postgres" and "redis", which other services call, and the caller-only
    nodes of this tier's Jobs (the consumers' databases, backups, the cluster bootstrap)."""
    stores = [
        platform.node(POSTGRES, (ServicePort("postgres", postgres_port),), scheme="postgresql"),
        platform.node(REDIS, (REDIS_PORT,), scheme="redis"),
    ]
    jobs = [
        (POSTGRES_DATABASES, POSTGRES, True),
        (POSTGRES_BACKUP, POSTGRES, postgres_backup),
        (REDIS_BACKUP, REDIS, redis_backup),
        (REDIS_CLUSTER_INIT, REDIS, redis_cluster),
    ]
    return stores + [platform.node(job, calls=(store,)) for job, store, enabled in jobs if enabled]


def secret_volume(name: str, secret: pulumi.Input[str]) -> Manifest:
    return {"name": name, "secret": {"secretName": secret, "defaultMode": SECRET_MODE}}


def http_sidecar_probes(port: str, path: str) -> Probes:
    return Probes(
        liveness=Probe(port=port, path=path, period=15, timeout=5),
        readiness=Probe(port=port, path=path, period=10, timeout=5),
    )


def cron_job_spec(schedule: str, pod: Manifest, deadline_seconds: int = 3600) -> Manifest:
    return {
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
    }


def claim_spec(volume: Volume) -> Manifest:
    spec: Manifest = {
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": volume.size}},
    }
    if volume.storage_class:
        spec["storageClassName"] = volume.storage_class
    return spec


@dataclass(frozen=True)
class Scope:
    """Where the tier's children go: under `parent` (the DataStores component), with logical
    names prefixed by `name` (the component's)."""

    parent: pulumi.Resource
    name: str
    platform: Platform
    graph: DependencyGraph

    @property
    def child(self) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self.parent)

    @property
    def guarded(self) -> pulumi.ResourceOptions:
        """What holds data or identity survives a mistaken rename or destroy in production."""
        protect = self.platform.protect_data
        return pulumi.ResourceOptions(parent=self.parent, protect=protect, retain_on_delete=protect)

    def credentials(
        self,
        name: str,
        generated: tuple[str, ...],
        fixed: dict[str, str],
        *,
        component: str | None = None,
        derived: dict[str, DerivedKey] | None = None,
    ) -> Credentials:
        """Generated passwords in a Secret (or its ExternalSecret), protected in production:
        `{release}-{name}-credentials` for a store's own, `{release}-{name}` for a consumer's."""
        platform = self.platform
        own = component is None
        return Credentials(
            f"{self.name}-{name}-credentials",
            CredentialArgs(
                platform=platform,
                component=component or name,
                secret_name=platform.name(f"{name}-credentials" if own else name),
                generated=generated,
                fixed=fixed,
                length=PASSWORD_LENGTH,
                derived=derived or {},
            ),
            self.child,
        )

    def job_identity(self, component: str, tier: str) -> None:
        """A Job's own ServiceAccount (mesh authorization names it) and its NetworkPolicy,
        derived from the graph where it is declared as a caller of its store."""
        platform = self.platform
        kube(
            k8s.core.v1.ServiceAccount,
            f"{self.name}-{component}-sa",
            metadata=platform.metadata(component, tier=tier),
            automount_service_account_token=False,
            opts=self.child,
        )
        kube(
            k8s.networking.v1.NetworkPolicy,
            f"{self.name}-{component}-netpol",
            metadata=platform.metadata(component, tier=tier),
            spec=workload_policy_spec(
                platform.selector(component), platform.access(self.graph, component)
            ),
            opts=self.child,
        )

    def job_template(
        self,
        component: str,
        container: Container,
        security: Security,
        volumes: tuple[Manifest, ...] = (),
    ) -> Manifest:
        platform = self.platform
        spec = batch_pod_spec(platform, [container], security=security, volumes=volumes)
        return {
            "metadata": {"labels": platform.selector(component)},
            "spec": {**spec, "serviceAccountName": platform.name(component)},
        }

    def backup(
        self,
        component: str,
        tier: str,
        backup: BackupArgs,
        container: Container,
        security: Security,
        volumes: tuple[Manifest, ...] = (),
    ) -> None:
        """CronJob writing into its own volume claim (protected in production)."""
        platform = self.platform
        claim_name = platform.name(f"{component}s")
        # The first consumer is the first scheduled run, possibly hours away: don't await Bound.
        claim_meta = platform.metadata(
            component,
            name=claim_name,
            tier=tier,
            annotations={"pulumi.com/skipAwait": "true"},
        )
        kube(
            k8s.core.v1.PersistentVolumeClaim,
            f"{self.name}-{component}s",
            metadata=claim_meta,
            spec=claim_spec(backup.volume),
            opts=self.guarded,
        )
        self.job_identity(component, tier)
        pod = self.job_template(
            component,
            replace(container, mounts=(*container.mounts, Mount("backups", BACKUPS))),
            security,
            ({"name": "backups", "persistentVolumeClaim": {"claimName": claim_name}}, *volumes),
        )
        kube(
            k8s.batch.v1.CronJob,
            f"{self.name}-{component}",
            metadata=platform.metadata(component, tier=tier),
            spec=cron_job_spec(backup.schedule, pod),
            opts=self.child,
        )
