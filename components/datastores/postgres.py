"""PostgreSQL in the cluster: the StatefulSet (with its exporter sidecar), the init ConfigMap,
the Job `{release}-postgres-databases` (each consumer's role and database; the external server
uses it too) and the backup CronJob. Scripts: `scripts/postgres-*.sh`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pulumi
import pulumi_kubernetes as k8s

from components.datafiles import read_text
from components.datastores.args import POSTGRES_PORT, PostgresArgs
from components.datastores.common import (
    BACKUPS,
    POSTGRES,
    POSTGRES_BACKUP,
    POSTGRES_DATABASES,
    POSTGRES_METRICS,
    SUPERUSER,
    Scope,
    http_sidecar_probes,
)
from components.endpoints import SECRET_FILE_MODE, secret_volume
from components.graph import ServicePort
from components.jobs import BatchArgs, job
from components.kube import kube
from components.secrets import Credentials
from components.workload import (
    Container,
    Manifest,
    Mount,
    Probe,
    Probes,
    Resources,
    Scratch,
    Security,
    ServiceSpec,
    VolumeClaim,
    Workload,
    WorkloadArgs,
)

# The PostgreSQL server keeps the official alpine images' (postgres, timescaledb) user postgres =
# uid/gid 70: the one exception to the platform's UID >= 10000 rule. (1) Peer authentication on
# the socket (`--auth-local=peer`: the entrypoint's init scripts, `kubectl exec ... psql`) makes
# the server look the client's UID up in the image's /etc/passwd, where only 70 has a name; the
# entrypoint fakes an entry (nss_wrapper) for initdb alone, so with any other UID the first start
# fails in the init scripts. (2) Existing data directories are owned by 70 with mode 0700, and
# PostgreSQL refuses a data directory its UID does not own; fsGroup changes only the group.
# Its exporter sidecar and the backup job read no server files and run as DEFAULT_UID
# (docs/data-stores.md).
POSTGRES_UID = 70
POSTGRES_SECURITY = Security(run_as_user=POSTGRES_UID, run_as_group=POSTGRES_UID, fs_group=70)
PG_SECRETS = "/run/secrets/postgres"
# Each consumer's Secret, projected into one volume as <consumer>/{username,password,database}.
PG_DATABASES = "/run/secrets/databases"
DATABASE_KEYS = ("username", "password", "database")
# Created in the `postgres` database, the one the exporter reads.
PG_EXTENSIONS = "pg_stat_statements"
PG_DATA_MOUNT = "/var/lib/postgresql/data"
# A subdirectory, so a volume's lost+found never makes initdb refuse a "non-empty" directory.
PGDATA = f"{PG_DATA_MOUNT}/pgdata"

POSTGRES_DATABASES_SCRIPT = "scripts/postgres-databases.sh"
POSTGRES_BACKUP_SCRIPT = "scripts/postgres-backup.sh"

# host, port, the Secret of the credentials the tier's Jobs use, the clients' TLS mode.
Served = tuple[str, int, pulumi.Input[str], str | None]


def databases_volume(name: str, secrets: Sequence[tuple[str, pulumi.Input[str]]]) -> Manifest:
    """One volume holding each consumer's Secret as <consumer>/{username,password,database}."""
    return {
        "name": name,
        "projected": {
            "defaultMode": SECRET_FILE_MODE,
            "sources": [
                {
                    "secret": {
                        "name": secret,
                        "items": [{"key": k, "path": f"{consumer}/{k}"} for k in DATABASE_KEYS],
                    }
                }
                for consumer, secret in secrets
            ],
        },
    }


def postgres_probes() -> Probes:
    ready = ("pg_isready", "--host=127.0.0.1", f"--port={POSTGRES_PORT}", f"--username={SUPERUSER}")
    return Probes(
        # initdb and crash recovery can take minutes; the temporary init server listens on no TCP.
        startup=Probe(command=ready, period=5, timeout=5, failure_threshold=120),
        liveness=Probe(command=ready, period=10, timeout=5, failure_threshold=6),
        readiness=Probe(command=ready, period=5, timeout=3),
    )


def database_secrets(databases: Mapping[str, Credentials]) -> list[tuple[str, pulumi.Input[str]]]:
    return [(c, creds.name) for c, creds in databases.items()]


def databases_job(
    scope: Scope,
    databases: Mapping[str, Credentials],
    tier: str,
    image: str,
    resources: Resources,
    env: dict[str, str],
    admin_secret: pulumi.Input[str],
    admin_password_key: str,
    after: Sequence[pulumi.Resource],
) -> None:
    """The Job `{release}-postgres-databases`: the consumers' roles and databases on a
    server whose data directory predates them (the init script covers a new one). Its spec
    names every consumer, so adding one replaces (re-runs) it."""
    container = Container(
        name="create-databases",
        image=image,
        resources=resources,
        command=("sh", "-c"),
        args=(read_text(__file__, POSTGRES_DATABASES_SCRIPT),),
        env={
            **env,
            "PG_PASSWORD_FILE": f"{PG_SECRETS}/{admin_password_key}",
            "DATABASES_DIR": PG_DATABASES,
        },
        mounts=(
            Mount("credentials", PG_SECRETS, read_only=True),
            Mount("databases", PG_DATABASES, read_only=True),
        ),
    )
    volumes = (
        secret_volume("credentials", admin_secret),
        databases_volume("databases", database_secrets(databases)),
    )
    job(
        scope.name,
        BatchArgs(
            platform=scope.platform,
            graph=scope.graph,
            component=POSTGRES_DATABASES,
            tier=tier,
            container=container,
            volumes=volumes,
        ),
        scope.parent,
        backoff_limit=6,
        depends_on=[*after, *databases.values()],
        timeout="20m",
    )


def in_cluster_postgres(
    scope: Scope, pg: PostgresArgs, databases: Mapping[str, Credentials]
) -> Served:
    platform = scope.platform
    tier = "database"
    name = platform.name(POSTGRES)
    # `password` and the fixed keys are the application role `trading_app` of servers
    # initialised before each consumer had its own: kept so that role keeps working and a
    # protected generated password is not deleted; no workload reads them any more.
    secret = scope.credentials(
        POSTGRES,
        ("password", "superuser-password"),
        {"username": "trading_app", "database": "trading", "superuser": SUPERUSER},
    )
    secret_name = secret.name
    init = kube(
        k8s.core.v1.ConfigMap,
        f"{scope.name}-postgres-init",
        metadata=platform.metadata(POSTGRES, name=f"{name}-init", tier=tier),
        data={"10-databases.sh": read_text(__file__, POSTGRES_DATABASES_SCRIPT)},
        opts=scope.child,
    )
    credentials = Mount("credentials", PG_SECRETS, read_only=True)
    port = ServicePort("postgres", POSTGRES_PORT)
    superuser_env = {
        "PGHOST": name,
        "PGPORT": str(POSTGRES_PORT),
        "PGUSER": SUPERUSER,
        "PG_PASSWORD_FILE": f"{PG_SECRETS}/superuser-password",
    }

    if pg.backup is not None:
        scope.backup(
            POSTGRES_BACKUP,
            tier,
            pg.backup,
            Container(
                name="pg-dump",
                image=pg.image,
                resources=pg.backup.resources,
                command=("sh", "-c"),
                args=(read_text(__file__, POSTGRES_BACKUP_SCRIPT),),
                env={
                    **superuser_env,
                    "BACKUPS": BACKUPS,
                    "RETENTION": str(pg.backup.retention),
                },
                mounts=(credentials,),
            ),
            # pg_dump over TCP with a password: any UID; the claim is group-owned by fsGroup.
            Security(),
            (secret_volume("credentials", secret_name),),
        )

    sidecars: tuple[Container, ...] = ()
    if pg.metrics is not None:
        sidecars = (
            Container(
                name="metrics",
                image=pg.metrics.image,
                resources=pg.metrics.resources,
                env={
                    "DATA_SOURCE_URI": f"127.0.0.1:{POSTGRES_PORT}/postgres?sslmode=disable",
                    "DATA_SOURCE_USER": SUPERUSER,
                    "DATA_SOURCE_PASS_FILE": f"{PG_SECRETS}/superuser-password",
                },
                ports=(POSTGRES_METRICS,),
                probes=http_sidecar_probes(POSTGRES_METRICS.name, "/"),
                mounts=(credentials,),
                # The exporter image runs as any user; it reads the password file through
                # the pod's fsGroup (70), which the kubelet adds to every container.
                security=Security(fs_group=None),
            ),
        )

    main = Container(
        name=POSTGRES,
        image=pg.image,
        resources=pg.resources,
        args=("postgres", "-c", f"shared_preload_libraries={','.join(pg.preload_libraries)}"),
        env={
            "POSTGRES_USER": SUPERUSER,
            "POSTGRES_PASSWORD_FILE": f"{PG_SECRETS}/superuser-password",
            "PGDATA": PGDATA,
            # Peer auth on the socket (the entrypoint and `kubectl exec`), passwords over TCP.
            "POSTGRES_INITDB_ARGS": (
                "--data-checksums --auth-local=peer --auth-host=scram-sha-256"
            ),
            # For the init script (scripts/postgres-databases.sh).
            "DATABASES_DIR": PG_DATABASES,
            "EXTENSIONS": PG_EXTENSIONS,
        },
        ports=(port,),
        probes=postgres_probes(),
        mounts=(
            credentials,
            Mount("databases", PG_DATABASES, read_only=True),
            # One file, so the image's own init scripts (TimescaleDB's) stay visible.
            Mount(
                "initdb",
                "/docker-entrypoint-initdb.d/10-databases.sh",
                sub_path="10-databases.sh",
                read_only=True,
            ),
        ),
        # Kubernetes sends SIGTERM, a "smart" shutdown that waits for every client: stop fast.
        pre_stop=("pg_ctl", "stop", "--mode=fast", "--wait"),
    )
    workload = Workload(
        f"{scope.name}-postgres",
        WorkloadArgs(
            platform=platform,
            component=POSTGRES,
            tier=tier,
            kind="StatefulSet",
            main=main,
            sidecars=sidecars,
            security=POSTGRES_SECURITY,
            scratch=(
                Scratch("tmp", "/tmp"),
                Scratch("run", "/var/run/postgresql"),
                Scratch("shm", "/dev/shm", memory=True, size_limit=pg.shm_size),
            ),
            volume_claims=(
                VolumeClaim("data", PG_DATA_MOUNT, pg.volume.size, pg.volume.storage_class),
            ),
            extra_volumes=(
                secret_volume("credentials", secret_name),
                databases_volume("databases", database_secrets(databases)),
                {"name": "initdb", "configMap": {"name": init.metadata.name}},
            ),
            service=ServiceSpec(ports=(port, POSTGRES_METRICS) if pg.metrics is not None else None),
            network=platform.access(
                scope.graph,
                POSTGRES,
                scrape_ports=(POSTGRES_METRICS,) if pg.metrics is not None else (),
            ),
            termination_grace_seconds=60,
            start_after=(secret, init, *databases.values()),
        ),
        pulumi.ResourceOptions(parent=scope.parent),
    )
    scope.workloads.append(workload)
    databases_job(
        scope,
        databases,
        tier,
        pg.image,
        pg.job_resources,
        {**superuser_env, "EXTENSIONS": PG_EXTENSIONS},
        secret_name,
        "superuser-password",
        [workload.workload],
    )
    return name, POSTGRES_PORT, secret_name, None
