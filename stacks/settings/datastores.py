"""Settings of the `dataStores` key: PostgreSQL (seed 002, or seed 004's managed server) and
Redis (seed 002's LRU cache, or seed 004's 3+3 cluster), with their backups."""

from __future__ import annotations

import re
from typing import Annotated, Literal

import pulumi
from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from components import quantities
from components.datastores import (
    POSTGRES_PORT,
    REDIS_POLICIES,
    SUPERUSER,
    BackupArgs,
    ConsumerDatabase,
    DataStoresArgs,
    ExternalPostgres,
    MetricsArgs,
    NodeAffinity,
    PostgresArgs,
    RedisArgs,
    RedisCluster,
    Volume,
    cluster_shape_problem,
    datastore_nodes,
    redis_bytes,
)
from components.graph import DependencyGraph, Node
from components.workload import Platform
from stacks.settings.types import ByteQuantity, ImageRef, Model, Port, ResourceSettings, positive
from stacks.versions import IMAGES

# The consumers of PostgreSQL, each with its own database and role; seed 001's tooling Secret
# (`trading-secrets`) names the trading services' role.
TRADING_SERVICES_CONSUMER = "trading-services"
BACKEND_CONSUMER = "backend"

# --- a five-field cron schedule, as Kubernetes CronJobs accept it -------------------------------

_MONTH_NAMES = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_MONTHS = {m: i for i, m in enumerate(_MONTH_NAMES, 1)}
_DAYS = {d: i for i, d in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))}
_CRON_FIELDS: tuple[tuple[str, int, int, dict[str, int]], ...] = (
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day of month", 1, 31, {}),
    ("month", 1, 12, _MONTHS),
    ("day of week", 0, 7, _DAYS),
)
_CRON_MACROS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")
_CRON_ITEM = re.compile(r"^(?P<range>\*|[0-9a-z]+(-[0-9a-z]+)?)(/(?P<step>[0-9]+))?$")
CRON_FORMAT = (
    "a cron schedule of 5 fields (minute hour day-of-month month day-of-week), "
    "e.g. '0 */6 * * *', or one of " + ", ".join(_CRON_MACROS)
)


def _cron_value(text: str, what: str, low: int, high: int, names: dict[str, int]) -> int:
    value = names.get(text) if text in names else int(text) if text.isdigit() else None
    if value is None or not low <= value <= high:
        raise ValueError(f"{what} {text!r} is outside {low}-{high}")
    return value


def cron_problem(schedule: str) -> str | None:
    """Why `schedule` is not a cron schedule Kubernetes accepts, or None."""
    text = schedule.strip().lower()
    if text.startswith("@"):
        return None if text in _CRON_MACROS else f"unknown macro {schedule!r}"
    fields = text.split()
    if len(fields) != len(_CRON_FIELDS):
        return f"{len(fields)} fields instead of 5"
    for field, (what, low, high, names) in zip(fields, _CRON_FIELDS, strict=True):
        for item in field.split(","):
            match = _CRON_ITEM.match(item)
            if not match:
                return f"{what} {item!r} is not *, a value, a range a-b or a step x/n"
            if match["step"] is not None and int(match["step"]) == 0:
                return f"{what} step in {item!r} must be at least 1"
            if match["range"] == "*":
                continue
            try:
                bounds = [_cron_value(v, what, low, high, names) for v in match["range"].split("-")]
            except ValueError as error:
                return str(error)
            if len(bounds) == 2 and bounds[0] > bounds[1]:
                return f"{what} range {match['range']!r} runs backwards"
    return None


def _cron(value: str) -> str:
    problem = cron_problem(value)
    if problem:
        raise ValueError(f"{problem}; expected {CRON_FORMAT}")
    return value


CronSchedule = Annotated[str, AfterValidator(_cron)]

# --- small validated types -------------------------------------------------------------------

_PG_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_HOSTNAME = re.compile(
    r"^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
)


def _identifier(value: str) -> str:
    if not _PG_IDENTIFIER.match(value):
        raise ValueError(
            "must be a plain PostgreSQL identifier: lower-case letters, digits and '_', "
            "not starting with a digit, at most 63 characters"
        )
    return value


def _hostname(value: str) -> str:
    if not _HOSTNAME.match(value):
        raise ValueError(
            "must be a DNS name such as db.abcdefgh.supabase.co (lower case, no scheme or port)"
        )
    return value


def _redis_memory(value: str) -> str:
    redis_bytes(value)
    if redis_bytes(value) == 0:
        raise ValueError(
            "must be above 0 (0 means no limit, and the container limit would OOM-kill)"
        )
    return value


Identifier = Annotated[str, AfterValidator(_identifier)]
Hostname = Annotated[str, AfterValidator(_hostname)]
RedisMemory = Annotated[str, AfterValidator(_redis_memory)]


def _eviction_policy(value: str) -> str:
    if value not in REDIS_POLICIES:
        raise ValueError(f"must be an eviction policy Redis knows: {', '.join(REDIS_POLICIES)}")
    return value


EvictionPolicy = Annotated[str, AfterValidator(_eviction_policy)]

# --- models ---------------------------------------------------------------------------------


class VolumeSettings(Model):
    size: ByteQuantity
    storage_class: str | None = None

    def build(self) -> Volume:
        return Volume(self.size, self.storage_class)


class BackupSettings(Model):
    """A CronJob copying the store into its own volume; keeps the newest `retention` copies."""

    enabled: bool = True
    schedule: CronSchedule
    retention: Annotated[int, positive("a count of backups")]
    storage: VolumeSettings
    resources: ResourceSettings

    def build(self) -> BackupArgs | None:
        if not self.enabled:
            return None
        return BackupArgs(
            self.schedule, self.retention, self.storage.build(), self.resources.build()
        )


class MetricsSettings(Model):
    """The Prometheus exporter sidecar the observability tier scrapes."""

    enabled: bool
    resources: ResourceSettings


class ConsumerDatabaseSettings(Model):
    """A consumer's own database, owned by its own login role."""

    database: Identifier
    user: Identifier


class DatabasesSettings(Model):
    """Each consumer's own database and role (profile defaults: seed 001's trading services on
    `eafix_trading`, seed 002's HFT backend on `trading_db` as `trading_user`)."""

    trading_services: ConsumerDatabaseSettings
    backend: ConsumerDatabaseSettings

    @model_validator(mode="after")
    def _distinct(self) -> DatabasesSettings:
        consumers = self.consumers()
        for what in ("database", "user"):
            values = [getattr(c, what) for c in consumers]
            shared = sorted({v for v in values if values.count(v) > 1})
            if shared:
                raise ValueError(
                    f"each consumer needs its own {what}: {', '.join(shared)} is used twice"
                )
        reserved = sorted({c.user for c in consumers} & {SUPERUSER, "public"})
        if reserved:
            raise ValueError(f"user {reserved[0]} is reserved; choose an application role name")
        return self

    def consumers(self) -> tuple[ConsumerDatabase, ...]:
        return (
            ConsumerDatabase(
                TRADING_SERVICES_CONSUMER,
                self.trading_services.database,
                self.trading_services.user,
            ),
            ConsumerDatabase(BACKEND_CONSUMER, self.backend.database, self.backend.user),
        )


class ExternalPostgresSettings(Model):
    """Seed 004's managed server. `user` is its admin role (CREATEROLE, CREATEDB), whose
    password is the secret key `externalPostgresPassword`: the Job
    `{release}-postgres-databases` creates each consumer's role and database with it."""

    host: Hostname
    port: Port = POSTGRES_PORT
    user: Identifier
    ssl_mode: Literal["disable", "allow", "prefer", "require", "verify-ca", "verify-full"] = (
        "require"
    )


class PostgresSettings(Model):
    mode: Literal["in-cluster", "external"]
    # `timescaledb` runs the pinned TimescaleDB image (seed 003's time-series layer).
    flavor: Literal["postgres", "timescaledb"]
    image: ImageRef | None = None  # None: the pin of the flavor in stacks/versions.py
    exporter_image: ImageRef = IMAGES["postgresExporter"]
    databases: DatabasesSettings
    storage: VolumeSettings
    shm_size: ByteQuantity
    resources: ResourceSettings
    # The Job `{release}-postgres-databases`.
    job_resources: ResourceSettings
    backup: BackupSettings
    metrics: MetricsSettings
    external: ExternalPostgresSettings | None = Field(default=None, validate_default=True)

    @field_validator("external")
    @classmethod
    def _external_needs_host(
        cls, value: ExternalPostgresSettings | None, info: ValidationInfo
    ) -> ExternalPostgresSettings | None:
        if info.data.get("mode") == "external" and value is None:
            raise ValueError(
                "is required when mode is 'external': set external.host to the managed "
                "server's DNS name and external.user to its role"
            )
        return value

    def build(self, external_password: pulumi.Input[str] | None) -> PostgresArgs | ExternalPostgres:
        if self.mode == "external":
            ext = self.external
            if ext is None or external_password is None:
                raise ValueError("external mode needs external settings and the password")
            return ExternalPostgres(
                host=ext.host,
                password=external_password,
                user=ext.user,
                databases=self.databases.consumers(),
                client_image=self.image or IMAGES["postgres"],
                job_resources=self.job_resources.build(),
                port=ext.port,
                ssl_mode=ext.ssl_mode,
            )
        timescale = self.flavor == "timescaledb"
        return PostgresArgs(
            image=self.image or IMAGES["timescaledb" if timescale else "postgres"],
            resources=self.resources.build(),
            volume=self.storage.build(),
            shm_size=self.shm_size,
            databases=self.databases.consumers(),
            job_resources=self.job_resources.build(),
            preload_libraries=(
                ("timescaledb", "pg_stat_statements") if timescale else ("pg_stat_statements",)
            ),
            backup=self.backup.build(),
            metrics=(
                MetricsArgs(self.exporter_image, self.metrics.resources.build())
                if self.metrics.enabled
                else None
            ),
        )


class SsdAffinitySettings(Model):
    """Seed 004's node affinity for SSD-backed nodes; preferred unless `required`."""

    key: Annotated[str, Field(min_length=1)] = "disktype"
    values: Annotated[list[str], Field(min_length=1)] = ["ssd"]
    required: bool = False


class RedisSettings(Model):
    # Field order matters: validators below read mode, replicasPerMaster and resources.
    mode: Literal["standalone", "cluster"]
    image: ImageRef = IMAGES["redis"]
    exporter_image: ImageRef = IMAGES["redisExporter"]
    resources: ResourceSettings
    maxmemory: RedisMemory
    maxmemory_policy: EvictionPolicy
    # AOF on a volume (standalone: otherwise an emptyDir; cluster nodes always keep a volume).
    persistence: bool
    storage: VolumeSettings
    replicas_per_master: Annotated[int, positive("a count of replicas")]
    nodes: Annotated[int, positive("a count of nodes")]
    anti_affinity: Literal["required", "preferred"]
    ssd_node_affinity: SsdAffinitySettings | None
    job_resources: ResourceSettings
    backup: BackupSettings
    metrics: MetricsSettings

    @field_validator("maxmemory")
    @classmethod
    def _below_limit(cls, value: str, info: ValidationInfo) -> str:
        resources = info.data.get("resources")
        if resources is None:
            return value
        limit = quantities.parse_bytes(resources.memory_limit)
        if redis_bytes(value) >= limit:
            raise ValueError(
                f"must be below resources.memoryLimit {resources.memory_limit} "
                f"({limit} bytes), leaving room for buffers and forks, e.g. "
                f"{limit * 3 // 4 // 2**20}mb"
            )
        return value

    @field_validator("nodes")
    @classmethod
    def _cluster_shape(cls, value: int, info: ValidationInfo) -> int:
        replicas = info.data.get("replicas_per_master")
        if info.data.get("mode") == "cluster" and replicas is not None:
            problem = cluster_shape_problem(value, replicas)
            if problem:
                raise ValueError(problem)
        return value

    def build(self) -> RedisArgs:
        cluster = None
        if self.mode == "cluster":
            ssd = self.ssd_node_affinity
            cluster = RedisCluster(
                nodes=self.nodes,
                replicas_per_master=self.replicas_per_master,
                job_resources=self.job_resources.build(),
                anti_affinity=self.anti_affinity,
                ssd_affinity=(
                    NodeAffinity(ssd.key, tuple(ssd.values), ssd.required) if ssd else None
                ),
            )
        return RedisArgs(
            image=self.image,
            resources=self.resources.build(),
            maxmemory=self.maxmemory,
            policy=self.maxmemory_policy,
            persistence=self.persistence,
            volume=self.storage.build(),
            cluster=cluster,
            backup=self.backup.build(),
            metrics=(
                MetricsArgs(self.exporter_image, self.metrics.resources.build())
                if self.metrics.enabled
                else None
            ),
        )


class DataStoresSettings(Model):
    postgres: PostgresSettings
    redis: RedisSettings

    def nodes(self, platform: Platform) -> list[Node]:
        in_cluster = self.postgres.mode == "in-cluster"
        ext = self.postgres.external
        return datastore_nodes(
            platform,
            postgres_port=ext.port if ext is not None and not in_cluster else POSTGRES_PORT,
            postgres_backup=in_cluster and self.postgres.backup.enabled,
            redis_backup=self.redis.backup.enabled,
            redis_cluster=self.redis.mode == "cluster",
        )

    def build(
        self,
        platform: Platform,
        graph: DependencyGraph,
        external_password: pulumi.Input[str] | None = None,
    ) -> DataStoresArgs:
        """Component args; `external_password` is the Output of the secret config key."""
        return DataStoresArgs(
            platform=platform,
            graph=graph,
            postgres=self.postgres.build(external_password),
            redis=self.redis.build(),
            tooling_consumer=TRADING_SERVICES_CONSUMER,
        )


# --- the secret config key of external mode -------------------------------------------------


def _presence(value: object) -> bool | None:
    # The engine hands the program the decrypted value: keep only whether it is set, so it never
    # sits in plain settings or in an error message. stacks/platform.py reads it as a secret.
    return None if value is None or value == "" else True


def _required_for_external(value: bool | None, info: ValidationInfo) -> bool | None:
    stores = info.data.get("data_stores")
    if value is None and stores is not None and stores.postgres.mode == "external":
        raise ValueError(
            "is required when dataStores.postgres.mode is 'external': "
            "pulumi config set --secret externalPostgresPassword <password>"
        )
    return value


# The root field `externalPostgresPassword` (declared after `dataStores`; its profile default
# null makes a missing value an error named by the key).
ExternalPostgresPassword = Annotated[
    bool | None, BeforeValidator(_presence), AfterValidator(_required_for_external)
]
