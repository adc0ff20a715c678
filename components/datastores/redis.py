"""Redis, standalone (seed 002's LRU cache) or a cluster of masters with replicas (seed 004's
3+3): the Deployment or StatefulSet with its config and start script, the exporter sidecar, the
cluster's bootstrap Job and the backup CronJob.

Its text is in files beside it: `config/redis*.conf` and `scripts/redis-*.sh`, rendered by
components/datafiles.render: `@{name}` is a value filled in here; the shell's `$` stays as
written."""

from __future__ import annotations

import pulumi

from components.datafiles import read_text, render
from components.datastores.args import (
    REDIS_POLICIES,
    RedisArgs,
    RedisCluster,
    cluster_shape_problem,
)
from components.datastores.common import (
    BACKUPS,
    REDIS,
    REDIS_BACKUP,
    REDIS_BUS_PORT,
    REDIS_CLUSTER_INIT,
    REDIS_METRICS,
    REDIS_PORT,
    Scope,
    http_sidecar_probes,
)
from components.endpoints import CacheEndpoint, secret_volume
from components.jobs import BatchArgs, job
from components.secrets import Credentials, json_map
from components.workload import (
    Container,
    Manifest,
    Mount,
    Probe,
    Probes,
    Scratch,
    Security,
    ServiceSpec,
    VolumeClaim,
    Workload,
    WorkloadArgs,
)

REDIS_SECRETS = "/run/secrets/redis"
# redis_exporter's REDIS_PASSWORD_FILE: a JSON map of address -> password.
REDIS_EXPORTER_PASSWORDS = "exporter-passwords.json"
REDIS_EXPORTER_ADDR = f"redis://127.0.0.1:{REDIS_PORT.port}"
# Renamed away: no client empties the store by accident.
DISABLED_COMMANDS = ("FLUSHALL", "FLUSHDB")


def redis_conf(args: RedisArgs) -> str:
    """The static part of redis.conf; the start script appends the password from the Secret.
    The base (`config/redis.conf`, with seed 001's tcp-keepalive), then the disabled commands,
    then how data is kept, then the cluster's directives."""
    text = render(
        __file__,
        "config/redis.conf",
        port=REDIS_PORT.port,
        maxmemory=args.maxmemory,
        policy=args.policy,
    )
    text += "".join(f'rename-command {command} ""\n' for command in DISABLED_COMMANDS)
    # With persistence, seed 001's tuning: AOF for durability, plus an RDB snapshot after 900 s
    # when at least one key changed, so a restart can load a compact snapshot. Without, a cache on
    # an emptyDir (seed 002): snapshots would die with the pod, so seed 001's `save 900 1` does
    # not apply; backups still work (redis-cli --rdb asks for a sync).
    text += read_text(
        __file__,
        "config/redis-aof.conf" if args.persistence else "config/redis-no-persistence.conf",
    )
    if args.cluster is not None:
        text += read_text(__file__, "config/redis-cluster.conf")
    return text


def redis_start_script(name: str, cluster: RedisCluster | None) -> str:
    """Builds the runtime config (password from the Secret file, never in the pod spec); a
    cluster node that restarted with its peers meets them again at their new addresses."""
    rejoin = ""
    if cluster is not None:
        rejoin = render(
            __file__,
            "scripts/redis-rejoin.sh",
            service=name,
            nodes=cluster.nodes,
            secrets=REDIS_SECRETS,
            port=REDIS_PORT.port,
            bus_port=REDIS_BUS_PORT.port,
        )
    return render(__file__, "scripts/redis-start.sh", secrets=REDIS_SECRETS, rejoin=rejoin)


def redis_bootstrap_script(name: str, cluster: RedisCluster) -> str:
    """Waits for every node, forms the cluster once, and succeeds again on a formed cluster."""
    return render(
        __file__,
        "scripts/redis-cluster-init.sh",
        service=name,
        nodes=cluster.nodes,
        replicas_per_master=cluster.replicas_per_master,
        secrets=REDIS_SECRETS,
        port=REDIS_PORT.port,
    )


def redis_backup_script(name: str, cluster: RedisCluster | None, retention: int) -> str:
    """Copies an RDB snapshot of every master into a timestamped folder, keeps `retention`."""
    if cluster is None:
        copy = render(__file__, "scripts/redis-backup-standalone.sh", service=name)
    else:
        copy = render(
            __file__, "scripts/redis-backup-cluster.sh", service=name, nodes=cluster.nodes
        )
    return render(
        __file__,
        "scripts/redis-backup.sh",
        secrets=REDIS_SECRETS,
        backups=BACKUPS,
        copy=copy,
        retention=retention,
        first_dropped=retention + 1,
    )


def redis_affinity(selector: dict[str, str], cluster: RedisCluster) -> Manifest:
    """Masters and their replicas on different nodes; SSD-labelled nodes when asked."""
    term: Manifest = {
        "labelSelector": {"matchLabels": selector},
        "topologyKey": "kubernetes.io/hostname",
    }
    affinity: Manifest = {
        "podAntiAffinity": (
            {"requiredDuringSchedulingIgnoredDuringExecution": [term]}
            if cluster.anti_affinity == "required"
            else {
                "preferredDuringSchedulingIgnoredDuringExecution": [
                    {"weight": 100, "podAffinityTerm": term}
                ]
            }
        )
    }
    ssd = cluster.ssd_affinity
    if ssd is not None:
        expression = {"key": ssd.key, "operator": "In", "values": list(ssd.values)}
        affinity["nodeAffinity"] = (
            {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [{"matchExpressions": [expression]}]
                }
            }
            if ssd.required
            else {
                "preferredDuringSchedulingIgnoredDuringExecution": [
                    {"weight": 100, "preference": {"matchExpressions": [expression]}}
                ]
            }
        )
    return affinity


def shell_probes(command: str, startup_failures: int) -> Probes:
    check = ("sh", "-c", command)
    return Probes(
        startup=Probe(command=check, period=5, timeout=5, failure_threshold=startup_failures),
        liveness=Probe(command=check, period=10, timeout=5, failure_threshold=6),
        readiness=Probe(command=check, period=5, timeout=3),
    )


def redis_store(scope: Scope, rd: RedisArgs) -> tuple[CacheEndpoint, Credentials]:
    """The store and its clients' endpoint, with the Secret holding its password."""
    platform = scope.platform
    tier = "cache"
    name = platform.name(REDIS)
    cluster = rd.cluster
    if cluster is not None:
        problem = cluster_shape_problem(cluster.nodes, cluster.replicas_per_master)
        if problem:
            raise ValueError(problem)
    if rd.policy not in REDIS_POLICIES:
        raise ValueError(f"unknown eviction policy {rd.policy!r}; one of {REDIS_POLICIES}")
    stateful = cluster is not None or rd.persistence
    if stateful and rd.volume is None:
        raise ValueError("Redis with persistence or in cluster mode needs a volume")

    secret = scope.credentials(
        REDIS,
        ("password",),
        {},
        derived={REDIS_EXPORTER_PASSWORDS: json_map(REDIS_EXPORTER_ADDR, "password")},
    )
    secret_name = secret.name
    # Scripts and probes read the password file into REDISCLI_AUTH themselves.
    auth = Mount("credentials", REDIS_SECRETS, read_only=True)
    auth_volume = secret_volume("credentials", secret_name)

    if rd.backup is not None:
        scope.backup(
            REDIS_BACKUP,
            tier,
            rd.backup,
            Container(
                name="rdb-copy",
                image=rd.image,
                resources=rd.backup.resources,
                command=("sh", "-c"),
                args=(redis_backup_script(name, cluster, rd.backup.retention),),
                mounts=(auth,),
            ),
            Security(),
            (auth_volume,),
        )

    claims: tuple[VolumeClaim, ...] = ()
    scratch = [Scratch("tmp", "/tmp"), Scratch("run", "/run/redis", memory=True)]
    if stateful and rd.volume is not None:
        claims = (VolumeClaim("data", "/data", rd.volume.size, rd.volume.storage_class),)
    else:
        scratch.append(Scratch("data", "/data"))

    sidecars: tuple[Container, ...] = ()
    if rd.metrics is not None:
        sidecars = (
            Container(
                name="metrics",
                image=rd.metrics.image,
                resources=rd.metrics.resources,
                env={
                    "REDIS_ADDR": REDIS_EXPORTER_ADDR,
                    "REDIS_PASSWORD_FILE": f"{REDIS_SECRETS}/{REDIS_EXPORTER_PASSWORDS}",
                },
                ports=(REDIS_METRICS,),
                probes=http_sidecar_probes(REDIS_METRICS.name, "/health"),
                mounts=(auth,),
            ),
        )

    ports = (REDIS_PORT, REDIS_BUS_PORT) if cluster is not None else (REDIS_PORT,)
    main = Container(
        name=REDIS,
        image=rd.image,
        resources=rd.resources,
        command=("sh", "/etc/redis/start.sh"),
        ports=ports,
        probes=shell_probes(
            f'REDISCLI_AUTH="$(cat {REDIS_SECRETS}/password)" '
            f"redis-cli -h 127.0.0.1 -p {REDIS_PORT.port} ping | grep -q PONG",
            # Loading a large AOF answers LOADING until it is done.
            startup_failures=120 if stateful else 30,
        ),
        mounts=(auth,),
    )
    workload = Workload(
        f"{scope.name}-redis",
        WorkloadArgs(
            platform=platform,
            component=REDIS,
            tier=tier,
            kind="StatefulSet" if stateful else "Deployment",
            replicas=cluster.nodes if cluster is not None else 1,
            main=main,
            sidecars=sidecars,
            config={
                "redis.conf": redis_conf(rd),
                "start.sh": redis_start_script(name, cluster),
            },
            config_mount="/etc/redis",
            scratch=tuple(scratch),
            volume_claims=claims,
            extra_volumes=(auth_volume,),
            service=ServiceSpec(
                ports=(REDIS_PORT, REDIS_METRICS) if rd.metrics is not None else (REDIS_PORT,)
            ),
            network=platform.access(
                scope.graph,
                REDIS,
                scrape_ports=(REDIS_METRICS,) if rd.metrics is not None else (),
                # Replicas sync from masters on 6379; the cluster bus gossips on 16379.
                peer_ports=ports if cluster is not None else (),
            ),
            pod_management_policy="Parallel" if cluster is not None else "OrderedReady",
            affinity=redis_affinity(platform.selector(REDIS), cluster) if cluster else None,
            start_after=(secret,),
        ),
        pulumi.ResourceOptions(parent=scope.parent),
    )
    scope.workloads.append(workload)
    if cluster is not None:
        cluster_bootstrap(scope, name, tier, rd.image, cluster, auth, auth_volume, workload)
    endpoint = CacheEndpoint(
        host=name, port=REDIS_PORT.port, secret=secret_name, cluster=cluster is not None
    )
    return endpoint, secret


def cluster_bootstrap(
    scope: Scope,
    name: str,
    tier: str,
    image: str,
    cluster: RedisCluster,
    auth: Mount,
    auth_volume: Manifest,
    workload: Workload,
) -> None:
    container = Container(
        name="cluster-init",
        image=image,
        resources=cluster.job_resources,
        command=("sh", "-c"),
        args=(redis_bootstrap_script(name, cluster),),
        mounts=(auth,),
    )
    job(
        scope.name,
        BatchArgs(
            scope.platform,
            scope.graph,
            REDIS_CLUSTER_INIT,
            tier,
            container,
            Security(),
            (auth_volume,),
        ),
        scope.parent,
        backoff_limit=6,
        # The servers' pods, not their Service (whose await only adds a settle time).
        depends_on=[workload.workload],
        timeout="20m",
    )
