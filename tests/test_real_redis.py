"""redis-server (Debian's; see the report for the image's version) started through the
container's own start script and config: it answers PING behind the password, runs with the
configured directives, refuses the disabled commands, and the backup CronJob's script copies an
RDB snapshot (issue 14). Substitutions: tests/real/redis.py."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from stacks.offline import Recording
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
