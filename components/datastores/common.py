"""What the data stores' parts share: names, ports and paths, the graph nodes, and the `Scope`
every part builds its children in (credentials, backups, the Jobs' identities)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import pulumi
import pulumi_kubernetes as k8s

from components.datastores.args import POSTGRES_PORT, BackupArgs, Volume
from components.graph import DependencyGraph, Node, ServicePort
from components.jobs import BatchArgs, cron_job
from components.kube import kube
from components.secrets import CredentialArgs, Credentials, DerivedKey
from components.workload import (
    Container,
    Manifest,
    Mount,
    Platform,
    Probe,
    Probes,
    Security,
    Workload,
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


def http_sidecar_probes(port: str, path: str) -> Probes:
    return Probes(
        liveness=Probe(port=port, path=path, period=15, timeout=5),
        readiness=Probe(port=port, path=path, period=10, timeout=5),
    )


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
    # The workloads built so far, whose scrape targets the tier hands on.
    workloads: list[Workload] = field(default_factory=list)

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
        volumes = (
            {"name": "backups", "persistentVolumeClaim": {"claimName": claim_name}},
            *volumes,
        )
        cron_job(
            self.name,
            BatchArgs(
                platform=platform,
                graph=self.graph,
                component=component,
                tier=tier,
                container=replace(container, mounts=(*container.mounts, Mount("backups", BACKUPS))),
                security=security,
                volumes=volumes,
            ),
            self.parent,
            schedule=backup.schedule,
        )
