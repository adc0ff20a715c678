"""The data stores tier's typed args (stacks/settings/datastores.py builds them), and the facts
about their values the settings validate with (Redis' eviction policies and memory units, the
shape of a Redis cluster)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

import pulumi

from components.graph import DependencyGraph
from components.workload import Platform, Resources

POSTGRES_PORT = 5432

# Redis 7's eviction policies; the settings accept exactly these.
REDIS_POLICIES = (
    "noeviction",
    "allkeys-lru",
    "allkeys-lfu",
    "allkeys-random",
    "volatile-lru",
    "volatile-lfu",
    "volatile-random",
    "volatile-ttl",
)

_REDIS_BYTES = re.compile(r"^(?P<num>\d+)(?P<unit>k|kb|m|mb|g|gb)?$", re.IGNORECASE)
_REDIS_UNITS = {"": 1, "k": 10**3, "kb": 2**10, "m": 10**6, "mb": 2**20, "g": 10**9, "gb": 2**30}
REDIS_BYTES_FORMAT = "a Redis memory size such as 192mb, 512mb or 3gb"


def redis_bytes(value: str) -> int:
    """Redis' own memory units (`mb` = MiB, `m` = 10^6); raises ValueError otherwise."""
    match = _REDIS_BYTES.match(str(value).strip())
    if not match:
        raise ValueError(f"{value!r} is not {REDIS_BYTES_FORMAT}")
    return int(match["num"]) * _REDIS_UNITS[(match["unit"] or "").lower()]


def cluster_shape_problem(nodes: int, replicas_per_master: int) -> str | None:
    """Why `nodes` cannot form a Redis cluster of at least 3 masters, each with its replicas."""
    group = replicas_per_master + 1
    if replicas_per_master < 1:
        return "replicasPerMaster must be at least 1 so every master has a replica"
    if nodes < 3 * group or nodes % group:
        return (
            f"a Redis cluster needs at least 3 masters with {replicas_per_master} replica(s) "
            f"each: nodes must be a multiple of replicasPerMaster+1 = {group} and at least "
            f"{3 * group}, e.g. {3 * group} or {4 * group}"
        )
    return None


@dataclass(frozen=True)
class Volume:
    size: str
    storage_class: str | None


@dataclass(frozen=True)
class BackupArgs:
    """A CronJob writing into its own volume claim and keeping the newest `retention` copies."""

    schedule: str
    retention: int
    volume: Volume
    resources: Resources


@dataclass(frozen=True)
class MetricsArgs:
    """A Prometheus exporter sidecar, for the observability tier to scrape."""

    image: str
    resources: Resources


@dataclass(frozen=True)
class ConsumerDatabase:
    """A consumer's own database and login role, owner of it, and the Secret
    `{release}-postgres-{consumer}` (keys username, password, database)."""

    consumer: str
    database: str
    user: str


@dataclass(frozen=True)
class PostgresArgs:
    """PostgreSQL in the cluster: one StatefulSet replica with its volume."""

    image: str
    resources: Resources
    volume: Volume
    shm_size: str
    databases: tuple[ConsumerDatabase, ...]
    # The Job creating the consumers' roles and databases on an existing server.
    job_resources: Resources
    # TimescaleDB's image needs its library preloaded next to pg_stat_statements.
    preload_libraries: tuple[str, ...]
    # None: no backup CronJob, no exporter sidecar.
    backup: BackupArgs | None
    metrics: MetricsArgs | None


@dataclass(frozen=True)
class ExternalPostgres:
    """A managed server (seed 004's Supabase): an ExternalName Service and a Secret; no pods."""

    host: str
    password: pulumi.Input[str]
    # The server's admin role (CREATEROLE and CREATEDB): the Job creates the consumers with it.
    user: str
    databases: tuple[ConsumerDatabase, ...]
    # psql for that Job, and its resources.
    client_image: str
    job_resources: Resources
    port: int
    # The clients' PGSSLMODE; None: libpq's default.
    ssl_mode: str | None


@dataclass(frozen=True)
class NodeAffinity:
    """Prefer (or require) nodes labelled `key` in `values`, e.g. disktype=ssd."""

    key: str
    values: tuple[str, ...]
    required: bool


@dataclass(frozen=True)
class RedisCluster:
    nodes: int
    replicas_per_master: int
    job_resources: Resources
    anti_affinity: Literal["required", "preferred"]
    ssd_affinity: NodeAffinity | None


@dataclass(frozen=True)
class RedisArgs:
    image: str
    resources: Resources
    maxmemory: str
    policy: str
    # AOF on a volume; without it a standalone instance keeps its data in an emptyDir.
    persistence: bool
    # Required with persistence or a cluster (its nodes.conf must survive restarts).
    volume: Volume | None
    # None: a standalone server.
    cluster: RedisCluster | None
    backup: BackupArgs | None
    metrics: MetricsArgs | None


@dataclass(frozen=True)
class DataStoresArgs:
    platform: Platform
    graph: DependencyGraph
    postgres: PostgresArgs | ExternalPostgres
    redis: RedisArgs
    # Which consumer's role seed 001's `trading-secrets` names (POSTGRES_USER/POSTGRES_PASSWORD).
    tooling_consumer: str | None
