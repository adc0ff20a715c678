"""redis-server (Debian's; see the report for the image's version) started through the
container's own start script and config: it answers PING behind the password, runs with the
configured directives, refuses the disabled commands, and the backup CronJob's script copies an
RDB snapshot (issue 14). Substitutions: tests/real/redis.py."""

from __future__ import annotations

import re
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from stacks.config import load_settings, project_values
from stacks.settings.root import PlatformSettings
from tests.helpers import container, manifest
from tests.real.credentials import secrets_with
from tests.real.pod import (
    base_env,
    image_version,
    mounted_secret_names,
    output,
    program,
    rewrite,
    secret_files,
    version,
)
from tests.real.redis import REDIS, started, workload_kind
from tools.offline import Recording, engine_value, stack_config

pytestmark = pytest.mark.real

PASSWORD = "q8Zr4E1xN0pLm7Ys2Vd5Kc9Tb3Hf6Jg1"


def test_redis_server_version_against_the_image() -> None:
    found = version(output([program("redis-server"), "--version"]).split("v=", 1)[1])
    # Debian 12 ships 7.0; the image runs 7.2: same major, the config directives used exist in 7.0.
    assert found[0] == image_version("redis")[0]


def test_start_script_runs_redis_with_the_configured_directives(
    stack: Recording, tmp_path: Path
) -> None:
    conf = manifest(stack, "ConfigMap", "aegis-trader-redis")["data"]["redis.conf"]
    expected = dict(
        line.split(" ", 1)
        for line in conf.splitlines()
        if line and not line.startswith(("rename-command", "bind", "port", "dir", "cluster-config"))
    )
    with started(stack, tmp_path, PASSWORD) as redis:
        assert redis.cli("PING") == "PONG"
        anonymous = subprocess.run(
            [program("redis-cli"), "-p", str(redis.port), "PING"],
            env=base_env(),
            capture_output=True,
            text=True,
            timeout=10,
        )
        assert "NOAUTH" in anonymous.stdout + anonymous.stderr
        for key, value in expected.items():
            reply = redis.cli("CONFIG", "GET", key).splitlines()
            assert reply[0] == key
            got = reply[1] if len(reply) > 1 else ""
            if key == "maxmemory":
                assert int(got) == int(re.sub(r"mb$", "", value)) * 2**20
            elif key == "save":
                assert got == value.strip('"'), key
            else:
                assert got == value, key
        # Seed 001's tuning took effect: keepalive everywhere, RDB snapshots where persisted.
        assert redis.cli("CONFIG", "GET", "tcp-keepalive").splitlines() == ["tcp-keepalive", "300"]
        save = redis.cli("CONFIG", "GET", "save").splitlines()
        persisted = redis.cli("CONFIG", "GET", "appendonly").splitlines()[1] == "yes"
        assert save[0] == "save" and save[1:] == (["900 1"] if persisted else [])  # reply stripped
        assert persisted == (workload_kind(stack) == "StatefulSet")
        for command in re.findall(r'rename-command (\w+) ""', conf):
            assert "unknown command" in redis.cli(command).lower()
        # The probe's own command.
        probe = container(stack, workload_kind(stack), REDIS, "redis")["readinessProbe"]["exec"]
        # It reads the mounted password file, the platform's one copy of the password.
        local = rewrite(probe["command"][-1], redis.paths).replace("-p 6379", f"-p {redis.port}")
        done = subprocess.run(["sh", "-c", local], env=redis.env, timeout=10)
        assert done.returncode == 0
        assert not Path(redis.paths["/run/redis"] / "redis.conf").stat().st_mode & 0o077


def test_backup_script_copies_a_snapshot(dev: Recording, tmp_path: Path) -> None:
    """The standalone store (dev); production's cluster backup walks pod DNS names."""
    job = manifest(dev, "CronJob", "aegis-trader-redis-backup")
    pod = job["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    (backup,) = pod["containers"]
    (mount,) = [m for m in backup["volumeMounts"] if m["mountPath"] == "/backups"]
    with started(dev, tmp_path / "server", PASSWORD) as redis:
        redis.cli("SET", "order:1", "filled")
        backups = tmp_path / mount["name"]
        backups.mkdir()
        # The password as the kubelet mounts it; the script reads it from there.
        secrets = secrets_with(dev, mounted_secret_names(pod), PASSWORD)
        files = secret_files(pod, backup, secrets, tmp_path / "secrets")
        script = rewrite(backup["args"][0], {"/backups": backups, **files}).replace(
            f"-h {REDIS} ", f"-h 127.0.0.1 -p {redis.port} "
        )
        env = base_env()
        for _ in range(2):
            done = subprocess.run(
                ["sh", "-c", script], env=env, capture_output=True, text=True, timeout=60
            )
            assert done.returncode == 0, done.stdout + done.stderr
    snapshots = sorted(backups.glob("*/aegis-trader-redis.rdb"))
    assert snapshots, list(backups.iterdir())
    assert snapshots[-1].read_bytes().startswith(b"REDIS")
    assert not list(backups.glob("*.partial"))


# --- the cluster's scripts, run under busybox sh against stand-ins -------------------------------

# `redis-cli` stand-in for a cluster of $NODES pods named <name>-<i>.<name>-headless: records
# each call with the REDISCLI_AUTH it saw; answers PING; reports cluster_known_nodes 1 (a node
# that knows no peer) until `--cluster create` ran, or from the start when $FORMED is set; the
# first half of the pods are masters; `--rdb FILE` writes a snapshot.
FAKE_REDIS_CLI = r"""#!/bin/sh
echo "auth=$REDISCLI_AUTH $*" >> "$STATE/calls"
host=""
if [ "$1" = "-h" ]; then host="$2"; shift 2; fi
index="$(echo "$host" | sed -n 's/^.*-\([0-9][0-9]*\)\..*$/\1/p')"
case "$*" in
  ping) echo PONG ;;
  "cluster info")
    if [ -e "$STATE/formed" ] || [ -n "${FORMED:-}" ]; then
      printf 'cluster_state:ok\r\ncluster_known_nodes:%s\r\n' "$NODES"
    else
      printf 'cluster_state:fail\r\ncluster_known_nodes:1\r\n'
    fi ;;
  "--cluster create"*) touch "$STATE/formed" ;;
  role) if [ "$index" -lt $((NODES / 2)) ]; then printf 'master\r\n'; else printf 'slave\r\n'; fi ;;
  "--rdb "*) echo "REDIS0011 $host" > "$2" ;;
  *) echo "unexpected: $*" >&2; exit 1 ;;
esac
"""
# `getent hosts NAME`: pod i answers at 10.0.0.i.
FAKE_GETENT = r"""#!/bin/sh
index="$(echo "$2" | sed -n 's/^.*-\([0-9][0-9]*\)\..*$/\1/p')"
echo "10.0.0.$index $2"
"""


def settings(recording: Recording) -> PlatformSettings:
    config = stack_config(recording.stack)
    return load_settings(project_values({k: engine_value(v) for k, v in config.items()}))


def cluster_script(
    recording: Recording, kind: str, name: str, tmp_path: Path
) -> tuple[str, dict[str, Path]]:
    """The Job's (or CronJob's) script with its mounted Secret written locally, the fake
    `redis-cli` and `getent` on PATH; returns the script and the local paths."""
    body = manifest(recording, kind, name)
    spec = body["spec"]["jobTemplate"]["spec"] if kind == "CronJob" else body["spec"]
    pod = spec["template"]["spec"]
    (c,) = pod["containers"]
    assert c["command"] == ["sh", "-c"]
    secrets = secrets_with(recording, mounted_secret_names(pod), PASSWORD)
    paths: dict[str, Path] = dict(secret_files(pod, c, secrets, tmp_path / "secrets"))
    for directory in ("bin", "state", "backups"):
        (tmp_path / directory).mkdir()
    paths["/backups"] = tmp_path / "backups"
    for binary, text in (("redis-cli", FAKE_REDIS_CLI), ("getent", FAKE_GETENT)):
        (tmp_path / "bin" / binary).write_text(text)
        (tmp_path / "bin" / binary).chmod(0o755)
    return rewrite(c["args"][0], paths), paths


def run_busybox(script: str, tmp_path: Path, nodes: int, **extra: str) -> str:
    env = base_env(
        {
            "PATH": f"{tmp_path / 'bin'}:{Path(program('busybox')).parent}:/usr/bin:/bin",
            "STATE": str(tmp_path / "state"),
            "NODES": str(nodes),
            **extra,
        }
    )
    done = subprocess.run(
        [program("busybox"), "sh", "-c", script],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_bootstrap_job_forms_the_cluster_once_from_every_node(
    prod: Recording, tmp_path: Path
) -> None:
    """Seed 004's 3+3: the Job waits for each of the 6 nodes, creates the cluster from their
    addresses with one replica per master, waits for cluster_state:ok; authenticated by the
    mounted password file."""
    nodes = manifest(prod, "StatefulSet", REDIS)["spec"]["replicas"]
    script, _ = cluster_script(prod, "Job", f"{REDIS}-cluster-init", tmp_path)
    out = run_busybox(script, tmp_path, nodes)
    calls = (tmp_path / "state" / "calls").read_text().splitlines()
    assert {c.split(" ", 1)[0] for c in calls} == {f"auth={PASSWORD}"}
    hosts = [f"{REDIS}-{i}.{REDIS}-headless" for i in range(nodes)]
    pinged = [c.split()[2] for c in calls if c.endswith(" ping")]
    assert pinged == hosts
    (create,) = [c.split(" ", 1)[1] for c in calls if "--cluster create" in c]
    addresses = " ".join(f"10.0.0.{i}:6379" for i in range(nodes))
    assert create == f"--cluster create {addresses} --cluster-replicas 1 --cluster-yes"
    assert out.rstrip().endswith("cluster_state:ok")


def test_bootstrap_job_leaves_a_formed_cluster_alone(prod: Recording, tmp_path: Path) -> None:
    """A re-run (the Job is replaced on every change) succeeds without creating anything."""
    nodes = manifest(prod, "StatefulSet", REDIS)["spec"]["replicas"]
    script, _ = cluster_script(prod, "Job", f"{REDIS}-cluster-init", tmp_path)
    out = run_busybox(script, tmp_path, nodes, FORMED="1")
    assert "--cluster create" not in (tmp_path / "state" / "calls").read_text()
    assert "already formed" in out


def test_cluster_backup_copies_every_master_and_keeps_the_newest(
    prod: Recording, tmp_path: Path
) -> None:
    nodes = manifest(prod, "StatefulSet", REDIS)["spec"]["replicas"]
    script, paths = cluster_script(prod, "CronJob", f"{REDIS}-backup", tmp_path)
    retention = settings(prod).data_stores.redis.backup.retention
    backups = paths["/backups"]
    start = datetime(2020, 1, 1, tzinfo=UTC)
    old = [
        backups / (start + timedelta(hours=6 * i)).strftime("%Y%m%dT%H%M%SZ")
        for i in range(retention + 1)
    ]
    for folder in old:
        folder.mkdir()
    (backups / "20200101T000001Z.partial").mkdir()  # an interrupted run
    run_busybox(script, tmp_path, nodes)
    kept = sorted(p.name for p in backups.iterdir())
    assert len(kept) == retention and kept[:-1] == [p.name for p in old[-(retention - 1) :]]
    newest = backups / kept[-1]
    masters = [f"{REDIS}-{i}.rdb" for i in range(nodes // 2)]
    assert sorted(p.name for p in newest.iterdir()) == masters
    assert all(p.read_text().startswith("REDIS") for p in newest.iterdir())
