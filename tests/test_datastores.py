"""Data stores: seed 002's PostgreSQL and Redis, seed 004's Redis cluster and external database,
backups, data-loss protection, and bad configuration failing before anything is registered."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from components.datastores import (
    BackupArgs,
    ConsumerDatabase,
    DataStores,
    DataStoresArgs,
    ExternalPostgres,
    PostgresArgs,
    RedisArgs,
    RedisCluster,
    Volume,
    cluster_shape_problem,
    datastore_nodes,
    redis_bytes,
    redis_start_script,
)
from components.graph import DependencyGraph, Node, ServicePort
from components.quantities import parse_bytes, parse_cpu
from components.workload import Platform, Resources
from stacks.config import load_settings, project_values
from stacks.errors import ConfigError
from stacks.graph import build_graph
from stacks.settings.datastores import cron_problem
from tests.helpers import (
    assert_rejected,
    container,
    env_of,
    manifest,
    pod_spec,
    production,
    secret_file,
)
from tests.kubeschema import validate_each
from tools.offline import Recording, engine_value, is_secret, run_program, run_stack, stack_config
from tools.summary import totals

PG = "aegis-trader-postgres"
REDIS = "aegis-trader-redis"
TIER = "data-stores"


def config_of(recording: Recording, name: str) -> str:
    return str(manifest(recording, "ConfigMap", name)["data"]["redis.conf"])


def script_of(recording: Recording, kind: str, name: str) -> str:
    body = manifest(recording, kind, name)
    spec = body["spec"]["jobTemplate"]["spec"] if kind == "CronJob" else body["spec"]
    return str(spec["template"]["spec"]["containers"][0]["args"][0])


# --- PostgreSQL (seed 002, seed 001) ----------------------------------------------------------


def test_postgres_is_one_statefulset_on_5432_with_headless_and_client_services(
    stack: Recording,
) -> None:
    sts = manifest(stack, "StatefulSet", PG)
    assert sts["spec"]["replicas"] == 1
    assert sts["spec"]["serviceName"] == f"{PG}-headless"
    pg = container(stack, "StatefulSet", PG, "postgres")
    assert pg["image"] == "postgres:16.9-alpine"
    assert pg["ports"] == [{"name": "postgres", "containerPort": 5432, "protocol": "TCP"}]
    headless = manifest(stack, "Service", f"{PG}-headless")["spec"]
    assert headless["clusterIP"] == "None"
    client = manifest(stack, "Service", PG)["spec"]
    assert ("postgres", 5432) in [(p["name"], p["port"]) for p in client["ports"]]


def test_postgres_data_lives_in_a_subdirectory_of_its_claim(stack: Recording) -> None:
    pg = container(stack, "StatefulSet", PG, "postgres")
    env = env_of(pg)
    (claim,) = manifest(stack, "StatefulSet", PG)["spec"]["volumeClaimTemplates"]
    assert {"name": "data", "mountPath": "/var/lib/postgresql/data"} in pg["volumeMounts"]
    assert env["PGDATA"] == "/var/lib/postgresql/data/pgdata"
    assert claim["metadata"]["name"] == "data"


def test_postgres_runs_restricted_as_the_image_user_with_memory_backed_shm(
    stack: Recording,
) -> None:
    pod = pod_spec(stack, "StatefulSet", PG)
    assert pod["securityContext"]["runAsUser"] == 70
    assert pod["securityContext"]["fsGroup"] == 70
    # The exporter sidecar runs as the platform's UID, reading the password file via fsGroup 70.
    metrics = next(
        c for c in pod.get("initContainers", []) + pod["containers"] if c["name"] == "metrics"
    )
    assert metrics["securityContext"]["runAsUser"] == 10001
    assert metrics["securityContext"]["runAsGroup"] == 10001
    pg = container(stack, "StatefulSet", PG, "postgres")
    assert pg["securityContext"]["readOnlyRootFilesystem"] is True
    assert pg["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["shm"]["emptyDir"]["medium"] == "Memory"
    mounts = {m["mountPath"]: m["name"] for m in pg["volumeMounts"]}
    assert mounts["/dev/shm"] == "shm"
    assert mounts["/var/run/postgresql"] == "run" and mounts["/tmp"] == "tmp"


def test_postgres_probes_use_pg_isready_on_loopback(stack: Recording) -> None:
    pg = container(stack, "StatefulSet", PG, "postgres")
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        command = pg[probe]["exec"]["command"]
        assert command[0] == "pg_isready" and "--host=127.0.0.1" in command


def test_postgres_passwords_are_files_from_a_generated_secret(stack: Recording) -> None:
    pg = container(stack, "StatefulSet", PG, "postgres")
    env = env_of(pg)
    assert env["POSTGRES_PASSWORD_FILE"] == "/run/secrets/postgres/superuser-password"
    assert "POSTGRES_PASSWORD" not in env
    credentials = next(
        v for v in pod_spec(stack, "StatefulSet", PG)["volumes"] if v["name"] == "credentials"
    )
    assert credentials["secret"]["secretName"] == f"{PG}-credentials"
    secret = stack.get("Secret", f"{PG}-credentials")
    assert is_secret(secret.inputs["stringData"])
    assert set(secret.manifest()["stringData"]) == {
        "username",
        "password",
        "database",
        "superuser",
        "superuser-password",
    }
    passwords = [
        r
        for r in stack.resources
        if r.type == "random:index/randomPassword:RandomPassword" and "data-stores" in r.name
    ]
    # postgres superuser, the pre-issue-15 application role (kept: see
    # components/datastores/postgres.py), each consumer's role, redis
    assert len(passwords) == 5
    assert all(p.inputs["length"] >= 24 and p.inputs["special"] is False for p in passwords)


def test_each_consumer_has_its_own_database_role_and_secret(stack: Recording) -> None:
    """Seed 001: the trading services' database `eafix_trading`; seed 002: the HFT backend's
    `trading_db` as `trading_user`; each with a Secret of its own."""
    databases = stack.outputs["postgres"]["databases"]
    assert databases["trading-services"]["database"] == "eafix_trading"
    assert (databases["backend"]["database"], databases["backend"]["user"]) == (
        "trading_db",
        "trading_user",
    )
    secrets = {d["secret"] for d in databases.values()}
    assert len(secrets) == len(databases) == 2
    assert stack.outputs["postgres"]["secret"] not in secrets
    for database in databases.values():
        secret = stack.get("Secret", database["secret"])
        data = secret.manifest()["stringData"]
        assert (data["username"], data["database"]) == (database["user"], database["database"])
        assert is_secret(secret.inputs["stringData"])
        assert set(data) == {"username", "password", "database"}


def mounted_databases(pod: dict[str, Any], c: dict[str, Any]) -> dict[str, dict[str, tuple]]:
    """consumer -> key -> (Secret, key) of the files under DATABASES_DIR."""
    root = env_of(c)["DATABASES_DIR"]
    (mount,) = [m for m in c["volumeMounts"] if m["mountPath"] == root]
    (volume,) = [v for v in pod["volumes"] if v["name"] == mount["name"]]
    found: dict[str, dict[str, tuple]] = {}
    for source in volume["projected"]["sources"]:
        for item in source["secret"]["items"]:
            consumer, key = item["path"].split("/")
            found.setdefault(consumer, {})[key] = secret_file(pod, c, f"{root}/{item['path']}")
    return found


def test_first_start_creates_every_consumers_role_and_database(stack: Recording) -> None:
    script = manifest(stack, "ConfigMap", f"{PG}-init")["data"]["10-databases.sh"]
    pg = container(stack, "StatefulSet", PG, "postgres")
    pod = pod_spec(stack, "StatefulSet", PG)
    # One file in the directory, so an image's own init scripts (TimescaleDB's) stay visible.
    init = next(m for m in pg["volumeMounts"] if m["name"] == "initdb")
    assert init["mountPath"] == "/docker-entrypoint-initdb.d/10-databases.sh"
    assert init["subPath"] == "10-databases.sh"
    assert 'for consumer_dir in "$DATABASES_DIR"/*/' in script
    databases = stack.outputs["postgres"]["databases"]
    assert mounted_databases(pod, pg) == {
        consumer: {key: (d["secret"], key) for key in ("username", "password", "database")}
        for consumer, d in databases.items()
    }


def test_a_job_creates_the_consumers_on_a_server_that_already_exists(stack: Recording) -> None:
    """The entrypoint's init scripts run on an empty data directory only: the Job brings an
    existing server up to date, with the same script, as the superuser over TCP."""
    job = stack.get("Job", f"{PG}-databases")
    body = job.manifest()
    assert body["metadata"]["annotations"]["pulumi.com/replaceUnready"] == "true"
    assert stack.get("StatefulSet", PG).urn in job.dependencies
    pod = body["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    init = manifest(stack, "ConfigMap", f"{PG}-init")["data"]["10-databases.sh"]
    assert c["args"] == [init]
    env = env_of(c)
    assert (env["PGHOST"], env["PGPORT"], env["PGUSER"]) == (PG, "5432", "postgres")
    assert secret_file(pod, c, env["PG_PASSWORD_FILE"]) == (
        stack.outputs["postgres"]["secret"],
        "superuser-password",
    )
    assert set(mounted_databases(pod, c)) == set(stack.outputs["postgres"]["databases"])
    assert pod["serviceAccountName"] == f"{PG}-databases"
    assert pod["securityContext"]["runAsUser"] == 10001
    # A caller of the server in the graph: the server's NetworkPolicy admits it.
    assert "postgres-databases" in ingress_names(stack, PG)


def test_production_postgres_keeps_seed_002s_10gi_volume(prod: Recording, dev: Recording) -> None:
    def storage(recording: Recording) -> str:
        (claim,) = manifest(recording, "StatefulSet", PG)["spec"]["volumeClaimTemplates"]
        return str(claim["spec"]["resources"]["requests"]["storage"])

    assert storage(prod) == "10Gi"
    assert parse_bytes(storage(dev)) < parse_bytes("10Gi")


def test_local_sizes_follow_seed_002(dev: Recording) -> None:
    pg = container(dev, "StatefulSet", PG, "postgres")["resources"]
    assert pg["requests"]["memory"] == "256Mi" and pg["limits"]["cpu"] == "500m"
    redis = container(dev, "Deployment", REDIS, "redis")["resources"]
    assert redis["limits"] == {"cpu": "250m", "memory": "256Mi"}


# --- Redis standalone (seeds 001/002) ------------------------------------------------------------


def test_local_redis_is_a_standalone_lru_cache_below_its_limit(dev: Recording) -> None:
    deployment = manifest(dev, "Deployment", REDIS)
    assert deployment["spec"]["replicas"] == 1
    conf = config_of(dev, REDIS)
    assert "maxmemory-policy allkeys-lru" in conf
    assert "maxmemory 192mb" in conf
    limit = container(dev, "Deployment", REDIS, "redis")["resources"]["limits"]["memory"]
    assert redis_bytes("192mb") < parse_bytes(limit)
    # Ephemeral locally (seed 002): an emptyDir, nothing persisted.
    data = next(v for v in pod_spec(dev, "Deployment", REDIS)["volumes"] if v["name"] == "data")
    assert "emptyDir" in data
    assert "appendonly no" in conf and "cluster-enabled" not in conf


def test_redis_carries_seed_001_tuning_where_it_applies(stack: Recording) -> None:
    """Seed 001's redis.conf: `tcp-keepalive 300` everywhere; `save 900 1` where the data
    persists (production's volumes); the local cache on an emptyDir snapshots nothing."""
    lines = config_of(stack, REDIS).splitlines()
    assert "tcp-keepalive 300" in lines
    saves = [line for line in lines if line.startswith("save ")]
    volumes = [
        claim["metadata"]["name"]
        for sts in stack.of_kind("StatefulSet")
        if sts.object_name == REDIS
        for claim in sts.manifest()["spec"].get("volumeClaimTemplates", [])
    ]
    if volumes:  # production's sizing (prod, staging): data on a volume
        assert "appendonly yes" in lines and saves == ["save 900 1"]
    else:
        assert "appendonly no" in lines and saves == ['save ""']


def test_redis_requires_a_password_and_disables_flush_commands(stack: Recording) -> None:
    kind = "StatefulSet" if production(stack) else "Deployment"
    conf = config_of(stack, REDIS)
    assert 'rename-command FLUSHALL ""' in conf and 'rename-command FLUSHDB ""' in conf
    assert "requirepass" not in conf  # added at start from the Secret file
    start = manifest(stack, "ConfigMap", REDIS)["data"]["start.sh"]
    assert "/run/secrets/redis/password)" in start
    assert "requirepass" in start and "exec redis-server /run/redis/redis.conf" in start
    redis = container(stack, kind, REDIS, "redis")
    assert redis["command"] == ["sh", "/etc/redis/start.sh"]
    assert "REDISCLI_AUTH" not in env_of(redis)
    plain = [e["name"] for e in redis.get("env", []) if "value" in e]
    assert not [n for n in plain if "PASS" in n or "AUTH" in n]
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        command = redis[probe]["exec"]["command"][-1]
        assert command.startswith('REDISCLI_AUTH="$(cat /run/secrets/redis/password)" ')
        assert "redis-cli -h 127.0.0.1 -p 6379 ping" in command
    pod = pod_spec(stack, kind, REDIS)
    assert secret_file(pod, redis, "/run/secrets/redis/password") == (
        f"{REDIS}-credentials",
        "password",
    )
    assert redis["securityContext"]["readOnlyRootFilesystem"] is True
    assert pod_spec(stack, kind, REDIS)["securityContext"]["runAsNonRoot"] is True
    client = manifest(stack, "Service", REDIS)["spec"]
    assert ("redis", 6379) in [(p["name"], p["port"]) for p in client["ports"]]


# --- seed 001's trading-secrets ---------------------------------------------------------------


def test_trading_secrets_carry_seed_001s_keys_from_the_credentials_they_repeat(
    stack: Recording,
) -> None:
    """Seed 001's runbooks read REDIS_PASSWORD, POSTGRES_USER and POSTGRES_PASSWORD from
    `trading-secrets`: the same values as Redis' Secret and the trading services' role."""
    name = stack.outputs["postgres"]["toolingSecret"]
    assert name == "aegis-trader-trading-secrets"
    secret = stack.get("Secret", name)
    assert is_secret(secret.inputs["stringData"])
    data = secret.manifest()["stringData"]
    assert set(data) == {"REDIS_PASSWORD", "POSTGRES_USER", "POSTGRES_PASSWORD"}
    redis = stack.get("Secret", stack.outputs["redis"]["secret"]).manifest()["stringData"]
    services = stack.outputs["postgres"]["databases"]["trading-services"]
    role = stack.get("Secret", services["secret"]).manifest()["stringData"]
    assert data["REDIS_PASSWORD"] == redis["password"]
    assert (data["POSTGRES_USER"], data["POSTGRES_PASSWORD"]) == (
        role["username"],
        role["password"],
    )
    assert data["POSTGRES_PASSWORD"] != data["REDIS_PASSWORD"]


@pytest.fixture(scope="module")
def external_store() -> Recording:
    return run_stack("prod", {"secrets": {"mode": "external", "store": "vault-trading"}})


def test_with_an_external_store_every_database_credential_comes_from_it(
    external_store: Recording,
) -> None:
    """Consumers' passwords and the tooling Secret's keys are store properties; the tooling
    Secret reads the same properties as the Secrets it repeats (no second copy in the store)."""
    found = {r.object_name: r.manifest()["spec"] for r in external_store.of_kind("ExternalSecret")}
    for consumer in ("trading-services", "backend"):
        spec = found[f"{PG}-{consumer}"]
        assert spec["data"] == [
            {
                "secretKey": "password",
                "remoteRef": {"key": f"aegis-trader/{PG}-{consumer}", "property": "password"},
            }
        ]
    tooling = found["aegis-trader-trading-secrets"]
    assert tooling["target"]["name"] == "aegis-trader-trading-secrets"
    assert tooling["target"]["template"]["data"]["POSTGRES_USER"] == "eafix_app"
    refs = {d["secretKey"]: d["remoteRef"] for d in tooling["data"]}
    assert refs == {
        "REDIS_PASSWORD": {"key": f"aegis-trader/{REDIS}-credentials", "property": "password"},
        "POSTGRES_PASSWORD": {"key": f"aegis-trader/{PG}-trading-services", "property": "password"},
    }
    # redis_exporter's password file is templated from the same property.
    redis = found[f"{REDIS}-credentials"]["target"]["template"]["data"]
    assert redis["exporter-passwords.json"] == (
        '{{ dict "redis://127.0.0.1:6379" .password | toJson }}'
    )


def test_external_postgres_gets_each_consumer_created_by_its_admin_role() -> None:
    recording = record(EXTERNAL, REDIS_ARGS, postgres_port=6543)
    job = recording.get("Job", "rel-postgres-databases").manifest()
    pod = job["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    env = env_of(c)
    assert (env["PGHOST"], env["PGPORT"], env["PGUSER"]) == ("rel-postgres", "6543", "postgres")
    assert env["PGSSLMODE"] == "require"
    assert "EXTENSIONS" not in env  # a managed server's extensions are its operator's
    assert secret_file(pod, c, env["PG_PASSWORD_FILE"]) == ("rel-postgres-credentials", "password")
    consumers = mounted_databases(pod, c)
    assert consumers["backend"]["password"] == ("rel-postgres-backend", "password")
    assert set(consumers) == {"trading-services", "backend"}


# --- Redis cluster (seed 004) -----------------------------------------------------------------


def test_production_redis_is_seed_004s_cluster_of_three_masters_and_three_replicas(
    prod: Recording,
) -> None:
    sts = manifest(prod, "StatefulSet", REDIS)
    assert sts["spec"]["replicas"] == 6
    assert sts["spec"]["podManagementPolicy"] == "Parallel"
    redis = container(prod, "StatefulSet", REDIS, "redis")
    assert redis["image"].startswith("redis:7.") and redis["image"].endswith("-alpine")
    assert redis["resources"] == {
        "requests": {"cpu": "500m", "memory": "1Gi"},
        "limits": {"cpu": "2", "memory": "4Gi"},
    }
    assert {(p["name"], p["containerPort"]) for p in redis["ports"]} == {
        ("redis", 6379),
        ("cluster-bus", 16379),
    }
    conf = config_of(prod, REDIS)
    assert "cluster-enabled yes" in conf and "cluster-config-file /data/nodes.conf" in conf
    assert "maxmemory 512mb" in conf and "maxmemory-policy allkeys-lru" in conf  # seed 002
    assert "appendonly yes" in conf  # production persists on a volume
    assert redis_bytes("512mb") < parse_bytes(redis["resources"]["limits"]["memory"])
    assert manifest(prod, "PodDisruptionBudget", REDIS)["spec"]["maxUnavailable"] == 1
    assert manifest(prod, "Service", f"{REDIS}-headless")["spec"]["clusterIP"] == "None"


def test_cluster_nodes_avoid_each_other_and_prefer_ssd_nodes(prod: Recording) -> None:
    affinity = pod_spec(prod, "StatefulSet", REDIS)["affinity"]
    (term,) = affinity["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert term["topologyKey"] == "kubernetes.io/hostname"
    assert term["labelSelector"]["matchLabels"]["app.kubernetes.io/name"] == "redis"
    (preferred,) = affinity["nodeAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
    assert preferred["preference"]["matchExpressions"] == [
        {"key": "disktype", "operator": "In", "values": ["ssd"]}
    ]


def test_bootstrap_job_forms_the_cluster_once_after_every_node(prod: Recording) -> None:
    """The Job runs after the nodes, re-runs on change, with the password file mounted; its
    script is run in tests/test_real_redis.py (forms the cluster once, leaves a formed one)."""
    job = prod.get("Job", f"{REDIS}-cluster-init")
    body = job.manifest()
    assert body["metadata"]["annotations"]["pulumi.com/replaceUnready"] == "true"
    assert prod.get("StatefulSet", REDIS).urn in job.dependencies
    pod = body["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == f"{REDIS}-cluster-init"
    assert pod["securityContext"]["runAsNonRoot"] is True
    (c,) = pod["containers"]
    assert secret_file(pod, c, "/run/secrets/redis/password") == (
        f"{REDIS}-credentials",
        "password",
    )


def test_cluster_nodes_meet_their_peers_again_after_a_full_restart(prod: Recording) -> None:
    start = manifest(prod, "ConfigMap", REDIS)["data"]["start.sh"]
    # Only a node of a formed cluster (nodes.conf knows peers) re-meets them at their new IPs.
    assert "grep -cv '^vars' /data/nodes.conf" in start
    assert f'getent hosts "$peer.{REDIS}-headless"' in start
    assert "cluster meet" in start


def test_local_has_no_cluster_objects(dev: Recording) -> None:
    assert not [j for j in dev.of_kind("Job") if "redis" in str(j.object_name)]
    assert not [p for p in dev.of_kind("PodDisruptionBudget") if p.object_name == REDIS]


# --- backups ----------------------------------------------------------------------------------


def test_postgres_backup_dumps_every_database_into_its_own_claim(stack: Recording) -> None:
    cron = manifest(stack, "CronJob", f"{PG}-backup")
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    script = script_of(stack, "CronJob", f"{PG}-backup")
    # Every database (each consumer's, and any an older server still has), plus the roles.
    assert "FROM pg_database WHERE datallowconn AND NOT datistemplate" in script
    assert '--dbname="$database" --format=custom' in script
    assert "pg_dumpall --globals-only" in script
    pod = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    env = env_of(c)
    assert (env["PGHOST"], env["PGPORT"], env["PGUSER"]) == (PG, "5432", "postgres")
    retention = 14 if production(stack) else 3
    assert env["RETENTION"] == str(retention)  # dumps beyond the retention are deleted
    # pg_dump over TCP needs no server files: the platform's high UID, the claim via fsGroup.
    assert pod["securityContext"]["runAsUser"] == 10001
    assert pod["securityContext"]["fsGroup"] == 10001
    assert pod["containers"][0]["securityContext"]["readOnlyRootFilesystem"] is True
    claim = next(v for v in pod["volumes"] if v["name"] == "backups")
    assert claim["persistentVolumeClaim"]["claimName"] == f"{PG}-backups"
    assert manifest(stack, "PersistentVolumeClaim", f"{PG}-backups")["spec"]["resources"]
    password = secret_file(pod, c, env["PG_PASSWORD_FILE"])
    assert password == (f"{PG}-credentials", "superuser-password")


def test_redis_rdb_snapshots_every_six_hours(stack: Recording) -> None:
    cron = manifest(stack, "CronJob", f"{REDIS}-backup")
    assert cron["spec"]["schedule"] == "0 */6 * * *"  # seed 004
    # Its script (a snapshot of the store, or of every master of the cluster, pruned to the
    # retention) is run in tests/test_real_redis.py.
    claim = manifest(stack, "PersistentVolumeClaim", f"{REDIS}-backups")
    assert claim["metadata"]["annotations"]["pulumi.com/skipAwait"] == "true"


# --- network ----------------------------------------------------------------------------------


def graph_of(recording: Recording) -> DependencyGraph:
    values = {k: engine_value(v) for k, v in stack_config(recording.stack).items()}
    return build_graph(load_settings(project_values(values)))


def ingress_names(recording: Recording, policy: str) -> set[str]:
    spec = manifest(recording, "NetworkPolicy", policy)["spec"]
    return {
        peer["podSelector"]["matchLabels"]["app.kubernetes.io/name"]
        for rule in spec["ingress"]
        for peer in rule["from"]
        if "namespaceSelector" not in peer
    }


def test_stores_admit_only_their_declared_callers(stack: Recording) -> None:
    graph = graph_of(stack)
    postgres_callers = {n.name for n in graph.callers("postgres")}
    assert "postgres-backup" in postgres_callers
    assert ingress_names(stack, PG) == postgres_callers
    redis_callers = {n.name for n in graph.callers("redis")}
    peers = {"redis"} if production(stack) else set()  # cluster nodes talk to each other
    assert ingress_names(stack, REDIS) == redis_callers | peers
    backup = manifest(stack, "NetworkPolicy", f"{PG}-backup")["spec"]
    assert backup["ingress"] == []
    (egress,) = backup["egress"]
    assert egress["to"][0]["podSelector"]["matchLabels"]["app.kubernetes.io/name"] == "postgres"
    assert egress["ports"] == [{"protocol": "TCP", "port": 5432}]


def test_cluster_bus_is_open_between_redis_pods_only(prod: Recording) -> None:
    spec = manifest(prod, "NetworkPolicy", REDIS)["spec"]
    bus = [r for r in spec["ingress"] if {"protocol": "TCP", "port": 16379} in r["ports"]]
    (rule,) = bus
    assert rule["from"][0]["podSelector"]["matchLabels"]["app.kubernetes.io/name"] == "redis"


# --- outputs and protection ---------------------------------------------------------------------


def test_outputs_name_hosts_ports_and_secrets(stack: Recording) -> None:
    assert stack.outputs["postgres"] == {
        "host": PG,
        "port": 5432,
        "secret": f"{PG}-credentials",
        "databases": {
            "trading-services": {
                "database": "eafix_trading",
                "user": "eafix_app",
                "secret": f"{PG}-trading-services",
            },
            "backend": {
                "database": "trading_db",
                "user": "trading_user",
                "secret": f"{PG}-backend",
            },
        },
        "toolingSecret": "aegis-trader-trading-secrets",
    }
    assert stack.outputs["redis"] == {
        "host": REDIS,
        "port": 6379,
        "cluster": production(stack),
        "secret": f"{REDIS}-credentials",
    }


def test_every_stateful_resource_of_production_is_protected(prod: Recording) -> None:
    stateful = [
        r
        for r in prod.resources
        if r.type == "random:index/randomPassword:RandomPassword"
        or (r.is_kubernetes_object and r.kind == "PersistentVolumeClaim")
        or (
            r.is_kubernetes_object
            and r.kind == "StatefulSet"
            and r.manifest()["spec"].get("volumeClaimTemplates")
        )
    ]
    assert {PG, REDIS, f"{PG}-backups", f"{REDIS}-backups"} <= {r.object_name for r in stateful}
    unprotected = [r.urn for r in stateful if not (r.protect and r.retain_on_delete)]
    assert unprotected == []
    for sts in prod.of_kind("StatefulSet"):
        policy = sts.manifest()["spec"].get("persistentVolumeClaimRetentionPolicy")
        if policy is not None:
            assert policy["whenDeleted"] == "Retain", sts.object_name


def test_local_data_is_disposable(dev: Recording) -> None:
    assert not dev.get("StatefulSet", PG).protect
    assert not dev.get("PersistentVolumeClaim", f"{PG}-backups").protect


def test_local_tier_requests_fit_its_share_of_the_node(dev: Recording) -> None:
    ours = Recording(dev.stack, [r for r in dev.resources if dev.tier_of(r) == TIER])
    result = totals(ours)
    assert result.cpu_requests <= parse_cpu("500m")
    assert result.memory_requests <= parse_bytes("1Gi")


# --- components on explicit args ----------------------------------------------------------------

PLATFORM = Platform(release="rel", namespace="ns", version="1.0.0")
SMALL = Resources("50m", "64Mi", "200m", "256Mi")
API = Node(
    name="api",
    host="rel-api",
    ports=(ServicePort("http", 8000),),
    selector=PLATFORM.selector("api"),
    service_account="rel-api",
    calls=("postgres", "redis"),
)
REDIS_ARGS = RedisArgs(
    image="redis:7.2.10-alpine",
    resources=SMALL,
    maxmemory="128mb",
    policy="allkeys-lru",
    persistence=False,
    volume=None,
    cluster=None,
    backup=None,
    metrics=None,
)


def record(postgres: PostgresArgs | ExternalPostgres, redis: RedisArgs, **nodes: Any) -> Recording:
    graph = DependencyGraph([*datastore_nodes(PLATFORM, **nodes), API])
    args = DataStoresArgs(
        platform=PLATFORM, graph=graph, postgres=postgres, redis=redis, tooling_consumer=None
    )
    return run_program(lambda: DataStores("stores", args))


CONSUMERS = (
    ConsumerDatabase("trading-services", "eafix_trading", "eafix_app"),
    ConsumerDatabase("backend", "trading_db", "trading_user"),
)
EXTERNAL = ExternalPostgres(
    host="db.abcdefgh.supabase.co",
    password="from-config",
    user="postgres",
    databases=CONSUMERS,
    client_image="postgres:16.9-alpine",
    job_resources=SMALL,
    port=6543,
    ssl_mode="require",
)


def test_external_postgres_is_an_externalname_service_and_a_secret_only() -> None:
    recording = record(EXTERNAL, REDIS_ARGS, postgres_port=6543)
    service = recording.get("Service", "rel-postgres").manifest()["spec"]
    assert service["type"] == "ExternalName"
    assert service["externalName"] == "db.abcdefgh.supabase.co"
    assert not [r for r in recording.of_kind("StatefulSet") if "postgres" in str(r.object_name)]
    assert not [r for r in recording.of_kind("CronJob") if "postgres" in str(r.object_name)]
    secret = recording.get("Secret", "rel-postgres-credentials")
    assert is_secret(secret.inputs["stringData"])
    assert secret.manifest()["stringData"]["username"] == "postgres"
    # Declared callers may leave the cluster for it, on its port only.
    egress = recording.get("NetworkPolicy", "rel-postgres-external-egress").manifest()["spec"]
    assert egress["podSelector"]["matchExpressions"][0]["values"] == ["api", "postgres-databases"]
    assert egress["egress"][0]["ports"] == [{"protocol": "TCP", "port": 6543}]
    component = next(r for r in recording.resources if r.type == "trading:data:DataStores")
    strays = [
        r.urn
        for r in recording.resources
        if r is not component and r.parent == component.parent and "providers" not in r.type
    ]
    assert strays == [], "every object is a child of the component"


def test_external_endpoint_hands_clients_tls_settings() -> None:
    from components.endpoints import DatabaseEndpoint

    endpoint = DatabaseEndpoint(
        "rel-postgres", 6543, "trading", "postgres", "s", ssl_mode="require"
    )
    env = endpoint.env()
    assert env["PGSSLMODE"] == "require"
    assert str(env["SERVICE_POSTGRES_URL"]).endswith(":6543/trading?sslmode=require")
    assert "PGSSLMODE" not in replace(endpoint, ssl_mode=None).env()


POSTGRES = PostgresArgs(
    image="postgres:16.9-alpine",
    resources=SMALL,
    volume=Volume("1Gi", None),
    shm_size="64Mi",
    databases=CONSUMERS,
    job_resources=SMALL,
    preload_libraries=("pg_stat_statements",),
    backup=None,
    metrics=None,
)


def test_standalone_redis_with_persistence_keeps_aof_on_a_volume() -> None:
    recording = record(
        POSTGRES, replace(REDIS_ARGS, persistence=True, volume=Volume("2Gi", "fast-ssd"))
    )
    sts = recording.get("StatefulSet", "rel-redis").manifest()["spec"]
    assert sts["replicas"] == 1
    (claim,) = sts["volumeClaimTemplates"]
    assert claim["spec"]["storageClassName"] == "fast-ssd"
    conf = recording.get("ConfigMap", "rel-redis").manifest()["data"]["redis.conf"]
    assert "appendonly yes" in conf and "cluster-enabled" not in conf
    assert [j.object_name for j in recording.of_kind("Job")] == ["rel-postgres-databases"]


def test_cluster_mode_on_explicit_args() -> None:
    cluster = RedisCluster(
        nodes=9,
        replicas_per_master=2,
        job_resources=SMALL,
        anti_affinity="preferred",
        ssd_affinity=None,
    )
    backup = BackupArgs("0 */6 * * *", 5, Volume("1Gi", None), SMALL)
    recording = record(
        POSTGRES,
        replace(REDIS_ARGS, cluster=cluster, volume=Volume("1Gi", None), backup=backup),
        redis_cluster=True,
        redis_backup=True,
    )
    sts = recording.get("StatefulSet", "rel-redis").manifest()["spec"]
    assert sts["replicas"] == 9
    anti = sts["template"]["spec"]["affinity"]["podAntiAffinity"]
    assert "preferredDuringSchedulingIgnoredDuringExecution" in anti
    assert "nodeAffinity" not in sts["template"]["spec"]["affinity"]
    script = recording.get("Job", "rel-redis-cluster-init").manifest()["spec"]["template"]
    assert "--cluster-replicas 2" in script["spec"]["containers"][0]["args"][0]
    backup_script = (
        recording.get("CronJob", "rel-redis-backup").manifest()["spec"]["jobTemplate"]["spec"]
    )["template"]["spec"]["containers"][0]["args"][0]
    assert "tail -n +6" in backup_script
    with pytest.raises(ValueError, match="multiple of replicasPerMaster"):
        record(
            POSTGRES,
            replace(REDIS_ARGS, cluster=replace(cluster, nodes=8), volume=Volume("1Gi", None)),
        )


def test_timescaledb_flavor_pins_its_image_and_preloads_the_library() -> None:
    settings = load_settings(
        {
            "profile": "local",
            "release": "rel",
            "namespace": "ns",
            "kubeContext": "kind",
            "dataStores": {"postgres": {"flavor": "timescaledb"}},
        }
    )
    graph = DependencyGraph(settings.data_stores.nodes(PLATFORM))
    args = settings.data_stores.build(PLATFORM, graph)
    assert isinstance(args.postgres, PostgresArgs)
    assert args.postgres.image.startswith("timescale/timescaledb:")
    recording = run_program(lambda: DataStores("stores", args))
    pg = recording.get("StatefulSet", "rel-postgres").manifest()["spec"]["template"]["spec"]
    main = pg["containers"][0]
    assert main["args"] == [
        "postgres",
        "-c",
        "shared_preload_libraries=timescaledb,pg_stat_statements",
    ]


@pytest.mark.parametrize("version", ["1.27", "1.33"])
def test_component_objects_validate_in_every_mode(version: str) -> None:

    cluster = RedisCluster(
        nodes=6,
        replicas_per_master=1,
        job_resources=SMALL,
        anti_affinity="required",
        ssd_affinity=None,
    )
    for recording in (
        record(EXTERNAL, replace(REDIS_ARGS, persistence=True, volume=Volume("1Gi", None))),
        record(
            POSTGRES,
            replace(REDIS_ARGS, cluster=cluster, volume=Volume("1Gi", None)),
            redis_cluster=True,
        ),
    ):
        validate_each((r.manifest() for r in recording.kubernetes_objects()), version)


# --- pure validators ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("nodes", "replicas", "ok"),
    [
        (6, 1, True),
        (8, 1, True),
        (9, 2, True),
        (4, 1, False),
        (7, 1, False),
        (6, 2, False),
        (6, 0, False),
    ],
)
def test_cluster_shape(nodes: int, replicas: int, ok: bool) -> None:
    assert (cluster_shape_problem(nodes, replicas) is None) is ok


def test_redis_units_are_redis_own() -> None:
    assert redis_bytes("512mb") == 512 * 2**20
    assert redis_bytes("1GB") == 2**30
    assert redis_bytes("100m") == 100 * 10**6
    with pytest.raises(ValueError, match="Redis memory size"):
        redis_bytes("512Mi")


@pytest.mark.parametrize(
    "schedule",
    [
        "0 */6 * * *",
        "30 2 * * *",
        "0 0 1 jan,jul *",
        "15 1 * * mon-fri",
        "*/5 0-6/2 1,15 * 0",
        "@daily",
    ],
)
def test_cron_accepts_kubernetes_schedules(schedule: str) -> None:
    assert cron_problem(schedule) is None


@pytest.mark.parametrize(
    ("schedule", "problem"),
    [
        ("0 */6 * *", "4 fields"),
        ("61 * * * *", "minute '61' is outside 0-59"),
        ("0 24 * * *", "hour '24'"),
        ("0 0 0 * *", "day of month '0'"),
        ("0 0 * 13 *", "month '13'"),
        ("0 0 * * 8", "day of week '8'"),
        ("*/0 * * * *", "step"),
        ("0 5-2 * * *", "backwards"),
        ("0 0 * * funday", "day of week"),
        ("@sometimes", "unknown macro"),
    ],
)
def test_cron_rejects_what_kubernetes_would(schedule: str, problem: str) -> None:
    found = cron_problem(schedule)
    assert found is not None and problem in found


# --- bad configuration -------------------------------------------------------------------------

CLUSTER = {"mode": "cluster", "persistence": True}
# (overrides, key named, value named, words of what is allowed)
BAD_CONFIGS: list[tuple[dict[str, Any], str, str, str]] = [
    (
        {"dataStores": {"redis": {**CLUSTER, "nodes": 4}}},
        "dataStores.redis.nodes",
        "4",
        "at least 3 masters",
    ),
    (
        {"dataStores": {"redis": {**CLUSTER, "nodes": 7}}},
        "dataStores.redis.nodes",
        "7",
        "multiple of replicasPerMaster+1 = 2",
    ),
    (
        {"dataStores": {"redis": {**CLUSTER, "nodes": 6, "replicasPerMaster": 2}}},
        "dataStores.redis.nodes",
        "6",
        "at least 9",
    ),
    (
        # Seed 002's literal pairing: 512mb of cache in a 256Mi container.
        {"dataStores": {"redis": {"maxmemory": "512mb"}}},
        "dataStores.redis.maxmemory",
        "512mb",
        "must be below resources.memoryLimit 256Mi",
    ),
    (
        {"dataStores": {"redis": {"maxmemory": "256mb"}}},
        "dataStores.redis.maxmemory",
        "256mb",
        "must be below resources.memoryLimit",
    ),
    (
        {"dataStores": {"redis": {"maxmemory": "lots"}}},
        "dataStores.redis.maxmemory",
        "lots",
        "Redis memory size such as 192mb",
    ),
    (
        {"dataStores": {"redis": {"maxmemoryPolicy": "lru"}}},
        "dataStores.redis.maxmemoryPolicy",
        "lru",
        "eviction policy Redis knows: noeviction, allkeys-lru",
    ),
    (
        {"dataStores": {"redis": {"backup": {"schedule": "0 */6 * *"}}}},
        "dataStores.redis.backup.schedule",
        "0 */6 * *",
        "5 fields (minute hour day-of-month month day-of-week)",
    ),
    (
        {"dataStores": {"postgres": {"backup": {"schedule": "61 2 * * *"}}}},
        "dataStores.postgres.backup.schedule",
        "61 2 * * *",
        "minute '61' is outside 0-59",
    ),
    (
        {"dataStores": {"postgres": {"databases": {"backend": {"database": "eafix_trading"}}}}},
        "dataStores.postgres.databases",
        "eafix_trading",
        "each consumer needs its own database: eafix_trading is used twice",
    ),
    (
        {"dataStores": {"postgres": {"databases": {"backend": {"user": "postgres"}}}}},
        "dataStores.postgres.databases",
        "postgres",
        "user postgres is reserved",
    ),
    (
        {"dataStores": {"postgres": {"mode": "external"}}, "externalPostgresPassword": "pw"},
        "dataStores.postgres.external",
        "None",
        "is required when mode is 'external'",
    ),
    (
        {
            "dataStores": {"postgres": {"mode": "external", "external": {"user": "postgres"}}},
            "externalPostgresPassword": "pw",
        },
        "dataStores.postgres.external.host",
        "None",
        "is required",
    ),
    (
        {
            "dataStores": {
                "postgres": {"mode": "external", "external": {"host": "db.x.co", "user": "app"}}
            }
        },
        "externalPostgresPassword",
        "None",
        "pulumi config set --secret externalPostgresPassword",
    ),
    (
        {"dataStores": {"postgres": {"storage": {"size": "10GB"}}}},
        "dataStores.postgres.storage.size",
        "10GB",
        "byte quantity such as 512Mi",
    ),
    (
        {"dataStores": {"redis": {"storage": {"size": "ten"}}}},
        "dataStores.redis.storage.size",
        "ten",
        "byte quantity",
    ),
]


@pytest.mark.parametrize(
    ("overrides", "key", "value", "allowed"),
    BAD_CONFIGS,
    ids=[f"{c[1]}={c[2]}" for c in BAD_CONFIGS],
)
def test_bad_config_fails_before_any_resource(
    overrides: dict[str, Any], key: str, value: str, allowed: str
) -> None:
    assert_rejected(overrides, key, value, allowed)


def test_the_external_password_never_reaches_a_message() -> None:
    recording = Recording("dev")
    overrides = {
        "dataStores": {"postgres": {"mode": "external", "external": {"user": "app"}}},
        "externalPostgresPassword": "s3cret-Value-123",
    }
    with pytest.raises(ConfigError) as raised:
        run_stack("dev", overrides, recording=recording)
    assert "s3cret-Value-123" not in str(raised.value)


def test_external_mode_from_stack_config_keeps_the_password_secret() -> None:
    overrides = {
        "dataStores": {
            "postgres": {
                "mode": "external",
                "external": {"host": "db.abcdefgh.supabase.co", "user": "postgres"},
            }
        },
        "externalPostgresPassword": "s3cret-Value-123",
    }
    recording = run_stack("dev", overrides)
    secret = recording.get("Secret", f"{PG}-credentials")
    assert is_secret(secret.inputs["stringData"])
    assert recording.get("Service", PG).manifest()["spec"]["type"] == "ExternalName"
    assert "s3cret-Value-123" not in str(recording.outputs)


def test_redis_start_script_escapes_the_password_for_redis_quotes(tmp_path: Path) -> None:
    """Inside redis.conf's double quotes `\\` and `\"` are escapes: an external secret holding
    either locked every client out until the script escaped them (issue 14)."""
    import subprocess

    start = redis_start_script("rel-redis", None)
    (line,) = [x for x in start.splitlines() if x.startswith('password="$(')]
    secret = tmp_path / "password"
    secret.write_text('a"b\\c d')
    script = line.replace("/run/secrets/redis/password", str(secret)) + '\nprintf %s "$password"'
    done = subprocess.run(["sh", "-c", script], capture_output=True, text=True, check=True)
    assert done.stdout == 'a\\"b\\\\c d'
