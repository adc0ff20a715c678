"""Every shell script the platform embeds (container and init-container commands, Jobs,
CronJobs, exec probes and hooks, `*.sh` files in ConfigMaps) passes `sh -n` under busybox and
dash and shellcheck (errors and warnings) in its dialect; the wait-for init containers' loops
run against a listening and a closed loopback port (issue 14); the KV-bucket wait loops on a
stand-in `nats` until it finds the bucket (issue 15).

The images run busybox ash (alpine, busybox), so POSIX `sh` is shellcheck's dialect; the
PostgreSQL init script is sourced by the image's bash entrypoint, so it is checked as bash.
Debian's busybox lacks `nc -z`: the loops run with netcat-openbsd's `nc` (same flags).
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.real.pod import (
    container_env,
    free_port,
    output_if_still_running,
    program,
    rewrite,
    running,
    secret_files,
    stop,
)
from tools.offline import Recording

pytestmark = pytest.mark.real

POD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob")
SHELLS = ("sh", "/bin/sh", "ash", "bash", "/bin/bash")
# Sourced by the postgres image's bash entrypoint (docker-entrypoint.sh).
BASH_DIRS = ("/docker-entrypoint-initdb.d",)


@dataclass(frozen=True)
class Script:
    where: str
    text: str
    dialect: str  # shellcheck's: sh or bash


def pod_template(manifest: dict[str, Any]) -> dict[str, Any]:
    spec = manifest["spec"]
    if manifest["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    template: dict[str, Any] = spec["template"]["spec"]
    return template


def shell_script(argv: list[str]) -> str | None:
    """The script of `sh -c SCRIPT` (or `-ec`, `-ceu` ...), else None."""
    if len(argv) >= 3 and argv[0] in SHELLS and argv[1].startswith("-") and "c" in argv[1]:
        return argv[2]
    return None


def scripts(recording: Recording) -> Iterator[Script]:
    mounted_bash: set[tuple[str, str]] = set()
    for kind in POD_KINDS:
        for registration in recording.of_kind(kind):
            manifest = registration.manifest()
            pod = pod_template(manifest)
            volumes = {v["name"]: v for v in pod.get("volumes", [])}
            for c in pod["containers"] + pod.get("initContainers", []):
                where = f"{kind}/{manifest['metadata']['name']} {c['name']}"
                dialect = "bash" if c.get("command", [""])[0] in ("bash", "/bin/bash") else "sh"
                argv = list(c.get("command", [])) + list(c.get("args", []))
                script = shell_script(argv)
                if script is not None:
                    yield Script(where, script, dialect)
                for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
                    command = c.get(probe, {}).get("exec", {}).get("command", [])
                    if (script := shell_script(list(command))) is not None:
                        yield Script(f"{where} {probe}", script, "sh")
                for hook in ("preStop", "postStart"):
                    command = (
                        c.get("lifecycle", {}).get(hook, {}).get("exec", {}).get("command", [])
                    )
                    if (script := shell_script(list(command))) is not None:
                        yield Script(f"{where} {hook}", script, "sh")
                for mount in c.get("volumeMounts", []):
                    config_map = volumes.get(mount["name"], {}).get("configMap")
                    if config_map and mount["mountPath"].startswith(BASH_DIRS):
                        mounted_bash.add((config_map["name"], mount.get("subPath", "")))
    for config_map in recording.of_kind("ConfigMap"):
        name = config_map.object_name or ""
        for key, text in (config_map.manifest().get("data") or {}).items():
            if key.endswith(".sh"):
                bash = (name, key) in mounted_bash or (name, "") in mounted_bash
                yield Script(f"ConfigMap/{name} {key}", text, "bash" if bash else "sh")


def stack_scripts(recording: Recording) -> list[Script]:
    found = list(scripts(recording))
    assert len(found) >= 8, [s.where for s in found]
    return found


def test_scripts_are_found_where_the_platform_embeds_them(prod: Recording) -> None:
    where = " | ".join(s.where for s in stack_scripts(prod))
    for expected in (
        "create-kv-bucket",
        "redis start.sh",
        "10-databases.sh",
        "postgres-databases",
        "wait-for",
        "postgres-backup",
        "readinessProbe",
    ):
        assert expected in where, expected


@pytest.mark.parametrize("shell", ["busybox", "dash", "bash"])
def test_every_script_parses(stack: Recording, shell: str, tmp_path: Path) -> None:
    argv = [program("busybox"), "sh"] if shell == "busybox" else [program(shell)]
    failures = []
    for i, script in enumerate(stack_scripts(stack)):
        if script.dialect == "bash" and shell != "bash":
            continue
        path = tmp_path / f"{i}.sh"
        path.write_text(script.text)
        done = subprocess.run([*argv, "-n", str(path)], capture_output=True, text=True, timeout=30)
        if done.returncode != 0:
            failures.append(f"{script.where}: {done.stderr.strip()}")
    assert not failures, "\n".join(failures)


def test_every_script_passes_shellcheck(stack: Recording, tmp_path: Path) -> None:
    shellcheck = program("shellcheck")
    failures = []
    for i, script in enumerate(stack_scripts(stack)):
        path = tmp_path / f"{i}.sh"
        path.write_text(script.text)
        done = subprocess.run(
            # Errors and warnings; style notes (SC2012 `ls` of timestamped backups, SC2086
            # the deliberately split address list) are accepted.
            [
                shellcheck,
                f"--shell={script.dialect}",
                "--severity=warning",
                "--format=gcc",
                str(path),
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        if done.returncode != 0:
            failures.append(f"{script.where}:\n{done.stdout.strip()}")
    assert not failures, "\n\n".join(failures)


def wait_for_scripts(recording: Recording) -> list[tuple[str, str]]:
    found = []
    for kind in POD_KINDS:
        for registration in recording.of_kind(kind):
            manifest = registration.manifest()
            for c in pod_template(manifest).get("initContainers", []):
                script = shell_script(list(c.get("command", [])))
                if script is not None and "nc -z" in script:
                    found.append((f"{kind}/{manifest['metadata']['name']} {c['name']}", script))
    assert found, f"{recording.stack}: no wait-for init container"
    return found


def localise(script: str, port: int) -> str:
    """Every `host port` / `host:port` target of the loop pointed at 127.0.0.1:`port`."""
    import re

    script = re.sub(r"(nc -z -w 2 )(?!\")\S+ \d+", rf"\g<1>127.0.0.1 {port}", script)
    return re.sub(
        r"(for target in )([^;]+)(;)",
        lambda m: m[1] + " ".join(f"127.0.0.1:{port}" for _ in m[2].split()) + m[3],
        script,
    )


@pytest.mark.parametrize("shell", ["busybox", "dash"])
def test_wait_for_loops_pass_a_listening_port_and_wait_on_a_closed_one(
    stack: Recording, shell: str, tmp_path: Path
) -> None:
    program("nc")
    argv = [program("busybox"), "sh"] if shell == "busybox" else [program("dash")]
    listener = free_port()
    closed = free_port()
    # One run per form of loop: one target, several targets (they differ only in the targets).
    distinct = {
        "for target" in script: (where, script) for where, script in wait_for_scripts(stack)
    }
    scripts = list(distinct.values())
    with running(
        [program("nc"), "-lk", "127.0.0.1", str(listener)], tmp_path / "nc.log", port=listener
    ):
        for where, script in scripts:
            started = time.monotonic()
            done = subprocess.run(
                [*argv, "-c", localise(script, listener)],
                capture_output=True,
                text=True,
                timeout=30,
            )
            assert done.returncode == 0, f"{where}: {done.stdout}{done.stderr}"
            assert time.monotonic() - started < 10, where
    for where, script in scripts:
        waiting = subprocess.Popen(
            [*argv, "-c", localise(script, closed)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            waiting.wait(2.5)  # a refused connection fails at once: it prints and sleeps
        except subprocess.TimeoutExpired:
            stop(waiting)  # the whole group: the shell and its `sleep`
            assert waiting.stdout is not None
            assert "waiting for" in waiting.stdout.read().decode(), where
        else:
            pytest.fail(f"{where} did not wait for a closed port")
        finally:
            if waiting.stdout is not None:
                waiting.stdout.close()


def bucket_waits(recording: Recording) -> list[tuple[str, dict[str, Any]]]:
    return [(where, c) for where, _, c in bucket_wait_pods(recording)]


def bucket_wait_pods(recording: Recording) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(kind/name, pod spec, the `wait-for-kv-bucket` container) of every registering pod."""
    found = []
    for kind in POD_KINDS:
        for registration in recording.of_kind(kind):
            manifest = registration.manifest()
            pod = pod_template(manifest)
            for c in pod.get("initContainers", []):
                if c["name"] == "wait-for-kv-bucket":
                    found.append((f"{kind}/{manifest['metadata']['name']}", pod, c))
    assert found, f"{recording.stack}: no wait-for-kv-bucket init container"
    return found


def mounted_env(
    pod: dict[str, Any], c: dict[str, Any], secrets: dict[str, dict[str, str]], root: Path
) -> dict[str, str]:
    """The container's environment, its mounted Secrets written under `root` as the kubelet
    would and the `*_FILE` paths pointing there."""
    files = secret_files(pod, c, secrets, root)
    return {name: rewrite(value, files) for name, value in container_env(c, secrets, {}).items()}


FAKE_NATS = """#!/bin/sh
# `nats` stand-in: records its arguments and environment; fails until the attempt numbered
# $SUCCEED_ON (never when unset), as the real CLI does while the bucket is missing.
n=$(($(cat "$STATE/count" 2>/dev/null || echo 0) + 1))
echo "$n" > "$STATE/count"
echo "$* url=$NATS_URL user=${NATS_USER:-} password=${NATS_PASSWORD:-}" >> "$STATE/calls"
if [ -n "${SUCCEED_ON:-}" ] && [ "$n" -ge "$SUCCEED_ON" ]; then
  echo "Information for Key-Value Store Bucket $3"
  exit 0
fi
echo "nats: error: nats: bucket not found" >&2
exit 1
"""


def fake_nats(tmp_path: Path) -> tuple[Path, Path]:
    shim, state = tmp_path / "bin", tmp_path / "state"
    shim.mkdir()
    state.mkdir()
    (shim / "nats").write_text(FAKE_NATS)
    (shim / "nats").chmod(0o755)
    return shim, state


@pytest.mark.parametrize("shell", ["busybox", "dash"])
def test_bucket_wait_loops_until_nats_finds_the_bucket(
    prod: Recording, shell: str, tmp_path: Path
) -> None:
    """Seed 000's start order (issue 15): the registering services' init container passes once
    `nats kv info <bucket>` succeeds, with the container's own server and credentials, and
    tells why it still waits (the CLI's last line) meanwhile."""
    argv = [program("busybox"), "sh"] if shell == "busybox" else [program("dash")]
    (where, pod, wait), *_ = bucket_wait_pods(prod)
    secrets = {"aegis-trader-nats-auth": {"user": "trading", "password": "pw"}}
    env = mounted_env(pod, wait, secrets, tmp_path / "secrets")
    # The credentials come from the mounted files, never from the pod's environment.
    assert "NATS_PASSWORD" not in env and env["NATS_PASSWORD_FILE"].startswith(str(tmp_path))
    shim, state = fake_nats(tmp_path)
    run_env = {
        **env,
        "PATH": f"{shim}:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "STATE": str(state),
        "SUCCEED_ON": "2",
    }
    assert wait["command"][:2] == ["sh", "-c"]
    done = subprocess.run(
        [*argv, "-c", wait["command"][2]], env=run_env, capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, f"{where}: {done.stdout}{done.stderr}"
    calls = (state / "calls").read_text().splitlines()
    expected = "kv info service_registry url=nats://aegis-trader-nats:4222 user=trading password=pw"
    assert calls == [expected, expected], where
    assert "waiting for KV bucket service_registry" in done.stdout
    assert "bucket not found" in done.stdout  # why it waits
    assert done.stdout.rstrip().endswith("KV bucket service_registry is ready")


@pytest.mark.parametrize("shell", ["busybox", "dash"])
def test_bucket_wait_keeps_waiting_while_the_bucket_is_missing(
    stack: Recording, shell: str, tmp_path: Path
) -> None:
    argv = [program("busybox"), "sh"] if shell == "busybox" else [program("dash")]
    # One script for every registering service: its settings come from the environment.
    scripts = {c["command"][2] for _, c in bucket_waits(stack)}
    (script,) = scripts
    (where, pod, wait), *_ = bucket_wait_pods(stack)
    secrets = {"aegis-trader-nats-auth": {"user": "u", "password": "p"}}
    env = mounted_env(pod, wait, secrets, tmp_path / "secrets")
    shim, state = fake_nats(tmp_path)
    waiting = output_if_still_running(
        [*argv, "-c", script],
        {**env, "PATH": f"{shim}:/usr/bin:/bin", "HOME": str(tmp_path), "STATE": str(state)},
        2.5,
    )
    assert waiting is not None, f"{where} did not wait for a missing bucket"
    assert "waiting for KV bucket" in waiting, where
