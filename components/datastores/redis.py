"""Redis, standalone (seed 002's LRU cache) or a cluster of masters with replicas (seed 004's
3+3): the Deployment or StatefulSet with its config and start script, the exporter sidecar, the
cluster's bootstrap Job and the backup CronJob."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from components.datastores.args import (
    REDIS_POLICIES,
    RedisArgs,
    RedisCluster,
    cluster_shape_problem,
)
from components.datastores.common import (
    BACKUPS,
    JOB_ANNOTATIONS,
    REDIS,
    REDIS_BACKUP,
    REDIS_BUS_PORT,
    REDIS_CLUSTER_INIT,
    REDIS_METRICS,
    REDIS_PORT,
    Scope,
    http_sidecar_probes,
    secret_volume,
)
from components.endpoints import CacheEndpoint
from components.kube import kube
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


def redis_conf(args: RedisArgs) -> str:
    """The static part of redis.conf; the start script appends the password from the Secret."""
    lines = [
        "bind 0.0.0.0",
        f"port {REDIS_PORT.port}",
        "dir /data",
        "tcp-keepalive 300",  # seed 001
        f"maxmemory {args.maxmemory}",
        f"maxmemory-policy {args.policy}",
    ]
    lines += [f'rename-command {command} ""' for command in args.disabled_commands]
    if args.persistence:
        # Seed 001's tuning: AOF for durability, plus an RDB snapshot after 900 s when at least
        # one key changed, so a restart can load a compact snapshot.
        lines += ["appendonly yes", "appendfsync everysec", "save 900 1"]
    else:
        # A cache on an emptyDir (seed 002): snapshots would die with the pod, so seed 001's
        # `save 900 1` does not apply; backups still work (redis-cli --rdb asks for a sync).
        lines += ["appendonly no", 'save ""']
    if args.cluster is not None:
        lines += [
            "cluster-enabled yes",
            "cluster-config-file /data/nodes.conf",
            "cluster-node-timeout 5000",
        ]
    return "\n".join(lines) + "\n"


def redis_start_script(name: str, cluster: RedisCluster | None) -> str:
    """Builds the runtime config (password from the Secret file, never in the pod spec)."""
    script = f"""\
#!/bin/sh
set -eu
umask 077
# In Redis' double-quoted strings a backslash and a quote are escapes: escape both.
password="$(sed 's/[\\\\"]/\\\\&/g' {REDIS_SECRETS}/password)"
{{
  cat /etc/redis/redis.conf
  printf 'requirepass "%s"\\nmasterauth "%s"\\n' "$password" "$password"
}} > /run/redis/redis.conf
unset password
"""
    if cluster is not None:
        script += f"""\
# When every node restarted, every pod IP changed and nodes.conf points at none of them: meet
# the peers at their current addresses (a node that knows none waits for the bootstrap Job).
if [ -s /data/nodes.conf ] && [ "$(grep -cv '^vars' /data/nodes.conf)" -gt 1 ]; then
  (
    REDISCLI_AUTH="$(cat {REDIS_SECRETS}/password)"
    export REDISCLI_AUTH
    self="$(hostname)"
    for _ in 1 2 3 4 5 6 7 8 9 10 11 12; do
      sleep 10
      i=0
      while [ "$i" -lt {cluster.nodes} ]; do
        peer="{name}-$i"
        i=$((i + 1))
        [ "$peer" = "$self" ] && continue
        ip="$(getent hosts "$peer.{name}-headless" | awk '{{print $1; exit}}')" || true
        [ -n "$ip" ] && redis-cli -h 127.0.0.1 cluster meet "$ip" {REDIS_PORT.port} \\
          {REDIS_BUS_PORT.port} >/dev/null 2>&1 || true
      done
    done
  ) &
fi
"""
    return script + "exec redis-server /run/redis/redis.conf\n"


def redis_bootstrap_script(name: str, cluster: RedisCluster) -> str:
    """Waits for every node, forms the cluster once, and succeeds again on a formed cluster."""
    return f"""\
set -eu
REDISCLI_AUTH="$(cat {REDIS_SECRETS}/password)"
export REDISCLI_AUTH
info() {{
  redis-cli -h "$1" cluster info 2>/dev/null | tr -d '\\r' \\
    | awk -F: -v key="$2" '$1 == key {{print $2}}'
}}
addresses=""
formed=""
i=0
while [ "$i" -lt {cluster.nodes} ]; do
  host="{name}-$i.{name}-headless"
  until [ "$(redis-cli -h "$host" ping 2>/dev/null)" = "PONG" ]; do
    echo "waiting for $host"
    sleep 2
  done
  addresses="$addresses $(getent hosts "$host" | awk '{{print $1; exit}}'):{REDIS_PORT.port}"
  known="$(info "$host" cluster_known_nodes)"
  if [ "${{known:-0}}" -gt 1 ]; then formed="$host"; fi
  i=$((i + 1))
done
if [ -n "$formed" ]; then
  echo "the cluster is already formed ($formed knows its peers): nothing to create"
else
  echo "forming the cluster from$addresses"
  redis-cli --cluster create $addresses --cluster-replicas {cluster.replicas_per_master} \\
    --cluster-yes
  formed="{name}-0.{name}-headless"
fi
until [ "$(info "$formed" cluster_state)" = "ok" ]; do
  echo "waiting for cluster_state:ok"
  sleep 2
done
echo "cluster_state:ok"
"""


def redis_backup_script(name: str, cluster: RedisCluster | None, retention: int) -> str:
    """Copies an RDB snapshot of every master into a timestamped folder, keeps `retention`."""
    if cluster is None:
        copy = f'redis-cli -h {name} --rdb "$target/{name}.rdb"\n'
    else:
        copy = f"""\
i=0
while [ "$i" -lt {cluster.nodes} ]; do
  host="{name}-$i.{name}-headless"
  if [ "$(redis-cli -h "$host" role | head -n 1 | tr -d '\\r')" = "master" ]; then
    redis-cli -h "$host" --rdb "$target/{name}-$i.rdb"
  fi
  i=$((i + 1))
done
"""
    return f"""\
set -eu
REDISCLI_AUTH="$(cat {REDIS_SECRETS}/password)"
export REDISCLI_AUTH
stamp="$(date -u +%Y%m%dT%H%M%SZ)"
rm -rf {BACKUPS}/*.partial
target="{BACKUPS}/$stamp.partial"
mkdir -p "$target"
{copy}mv "$target" "{BACKUPS}/$stamp"
echo "wrote {BACKUPS}/$stamp"
# Keep the newest {retention}.
ls -1d {BACKUPS}/*Z | sort -r | tail -n +{retention + 1} | xargs -r rm -rf --
ls -l {BACKUPS}
"""


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
    platform = scope.platform
    scope.job_identity(REDIS_CLUSTER_INIT, tier)
    pod = scope.job_template(
        REDIS_CLUSTER_INIT,
        Container(
            name="cluster-init",
            image=image,
            resources=cluster.job_resources,
            command=("sh", "-c"),
            args=(redis_bootstrap_script(name, cluster),),
            mounts=(auth,),
        ),
        Security(),
        (auth_volume,),
    )
    kube(
        k8s.batch.v1.Job,
        f"{scope.name}-{REDIS_CLUSTER_INIT}",
        # A failed run is replaced (re-run) on the next update instead of awaited again.
        metadata=platform.metadata(
            REDIS_CLUSTER_INIT, tier=tier, annotations=dict(JOB_ANNOTATIONS)
        ),
        spec={"backoffLimit": 6, "activeDeadlineSeconds": 900, "template": pod},
        opts=pulumi.ResourceOptions(
            parent=scope.parent,
            # The servers' pods, not their Service (whose await only adds a settle time).
            depends_on=[workload.workload],
            custom_timeouts=pulumi.CustomTimeouts(create="20m", update="20m"),
        ),
    )
