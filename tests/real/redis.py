"""Redis through the container's own start script and config, on loopback.

Substituted: every mount path by a local directory (in the script, the config and the command),
`bind 0.0.0.0` / `port 6379` by 127.0.0.1 and a free port, and in a backup script the Service
host by 127.0.0.1 with that port.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.helpers import container, manifest, pod_spec
from tests.real.credentials import secrets_with
from tests.real.pod import (
    base_env,
    container_env,
    free_port,
    mounted_secret_names,
    program,
    referenced_secrets,
    rewrite,
    running,
    wait_until,
)
from tools.offline import Recording

REDIS = "aegis-trader-redis"


def workload_kind(recording: Recording) -> str:
    kinds = [r.kind for r in recording.kubernetes_objects() if r.object_name == REDIS]
    return "StatefulSet" if "StatefulSet" in kinds else "Deployment"


@dataclass(frozen=True)
class Redis:
    port: int
    password: str
    env: dict[str, str]
    paths: dict[str, Path]

    def cli(self, *args: str) -> str:
        done = subprocess.run(
            [program("redis-cli"), "-h", "127.0.0.1", "-p", str(self.port), *args],
            env=base_env({"REDISCLI_AUTH": self.password}),
            capture_output=True,
            text=True,
            timeout=30,
        )
        return (done.stdout + done.stderr).strip()


def redis_port() -> int:
    """A free port whose cluster-bus port (+10000) is free too, as cluster mode needs."""
    import socket

    for _ in range(200):
        port = free_port()
        if port > 55535:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        return port
    raise AssertionError("no free port pair for Redis")


def localise_config(text: str, port: int) -> str:
    text = re.sub(r"(?m)^bind .*$", "bind 127.0.0.1", text)
    return re.sub(r"(?m)^port \d+$", f"port {port}", text)


@contextmanager
def started(recording: Recording, workdir: Path, password: str) -> Iterator[Redis]:
    program("redis-server")
    kind = workload_kind(recording)
    spec = container(recording, kind, REDIS, "redis")
    volumes = {v["name"]: v for v in pod_spec(recording, kind, REDIS)["volumes"]}
    paths = {m["mountPath"]: workdir / m["name"] for m in spec["volumeMounts"]}
    for path in paths.values():
        path.mkdir(parents=True, exist_ok=True)
    pod = pod_spec(recording, kind, REDIS)
    secrets = secrets_with(
        recording, (*referenced_secrets(spec), *mounted_secret_names(pod)), password
    )
    port = redis_port()
    for mount in spec["volumeMounts"]:
        volume = volumes.get(mount["name"], {})
        local = paths[mount["mountPath"]]
        if "configMap" in volume:
            data = manifest(recording, "ConfigMap", volume["configMap"]["name"])["data"]
            for key, text in data.items():
                (local / key).write_text(localise_config(rewrite(text, paths), port))
        if "secret" in volume:
            for key, value in secrets[volume["secret"]["secretName"]].items():
                (local / key).write_text(value)
    env = base_env(container_env(spec, secrets, {}))
    argv = [rewrite(arg, paths) for arg in spec["command"]]
    with running(argv, workdir / "redis.log", env=env, port=port) as process:
        redis = Redis(port, password, env, paths)
        # Answering the protocol (a wrong password answers too), not just a bound port.
        wait_until(
            lambda: redis.cli("PING").startswith(("PONG", "NOAUTH", "WRONGPASS", "AUTH")),
            10,
            f"redis-server on {port}",
            process,
            workdir / "redis.log",
        )
        yield redis
