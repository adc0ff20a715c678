"""Run what the recorded graph hands a container through the real program, on loopback.

A test finds the program (`program`), resolves the container's environment as the kubelet would
(`container_env`: values, `fieldRef`, `secretKeyRef`), expands `$(VAR)` in its command
(`expand`), lays its mounted files under a temporary root, and runs it on 127.0.0.1 with free
ports (`running`), always cleaning up the process group.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from stacks.versions import IMAGES
from tools.offline import Recording

REPO = Path(__file__).resolve().parents[2]
DATA = Path(__file__).resolve().parent / "data"
VENV_BIN = REPO / ".venv" / "bin"
INSTALL_HINT = "scripts/install-test-programs.sh installs it"
# Where Debian keeps programs that are not on a user's PATH.
EXTRA_PATHS = ("/usr/sbin", "/sbin", "/usr/lib/postgresql/15/bin")


def find_program(name: str) -> str | None:
    candidate = VENV_BIN / name
    if candidate.exists() and os.access(candidate, os.X_OK):
        return str(candidate)
    return shutil.which(name) or shutil.which(name, path=os.pathsep.join(EXTRA_PATHS))


def program(name: str) -> str:
    """The program's path; the test skips, naming the program, when it is absent."""
    found = find_program(name)
    if found is None:
        pytest.skip(f"{name} is not installed ({INSTALL_HINT})")
    return found


def output(argv: Sequence[str], **kwargs: Any) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False, **kwargs)
    return done.stdout + done.stderr


def version(text: str) -> tuple[int, ...]:
    """The first dotted version number in `text` (a program's `--version` output or a tag)."""
    match = re.search(r"(\d+)\.(\d+)(?:\.(\d+))?", text)
    assert match, f"no version in {text!r}"
    return tuple(int(part) for part in match.groups() if part is not None)


def image_version(key: str) -> tuple[int, ...]:
    """The version in the tag of `IMAGES[key]`, e.g. nats:2.11.6-alpine -> (2, 11, 6)."""
    return version(IMAGES[key].rsplit(":", 1)[1])


# Below Linux's ephemeral range (32768-60999), so an outgoing connection of a running server
# (a NATS route, a client) never takes a port chosen for another server.
PORTS = range(20000, 32000)
_taken: set[int] = set()
# Its own generator: hypothesis reseeds the global one for every example.
_random = __import__("random").Random()


def free_port() -> int:
    """A loopback port free now, below the ephemeral range, and not handed out before."""
    for _ in range(1000):
        port = _random.choice(PORTS)
        if port in _taken:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _taken.add(port)
        return port
    raise AssertionError("no free loopback port")


def listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def wait_until(
    check: Any,
    timeout: float,
    what: str,
    process: subprocess.Popen[Any] | None = None,
    log: Path | None = None,
) -> None:
    """Poll `check()` until it is true; fail after `timeout` seconds or when `process` exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        if process is not None and process.poll() is not None:
            break
        time.sleep(0.05)
    detail = log.read_text(errors="replace")[-3000:] if log is not None and log.exists() else ""
    state = f" (exited {process.returncode})" if process is not None and process.poll() else ""
    pytest.fail(f"{what} not reached within {timeout}s{state}\n{detail}")


def output_if_still_running(command: list[str], env: dict[str, str], seconds: float) -> str | None:
    """Run `command`; when it is still running after `seconds` (e.g. a wait loop that must keep
    waiting), stop it and return what it printed so far; when it has exited, None."""
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
    )
    assert process.stdout is not None
    try:
        process.wait(seconds)
    except subprocess.TimeoutExpired:
        stop(process)
        return process.stdout.read().decode()
    finally:
        process.stdout.close()
    return None


def stop(process: subprocess.Popen[Any], timeout: float = 10) -> None:
    """SIGTERM the process group, then SIGKILL what is left."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout)


@contextlib.contextmanager
def running(
    argv: Sequence[str],
    log: Path,
    *,
    env: Mapping[str, str] | None = None,
    port: int | None = None,
    timeout: float = 30,
    cwd: Path | None = None,
    user: str | None = None,
) -> Iterator[subprocess.Popen[bytes]]:
    """Start `argv` in its own process group (as `user` when given and we are root), wait until
    `port` listens on 127.0.0.1, and stop it on exit."""
    command = list(argv)
    if user is not None and os.geteuid() == 0:
        command = [program("setpriv"), *as_user(user), *command]
    with log.open("wb") as sink:
        process = subprocess.Popen(
            command,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        if port is not None:
            wait_until(lambda: listening(port), timeout, f"port {port} of {argv[0]}", process, log)
        yield process
    finally:
        stop(process)


def as_user(user: str) -> list[str]:
    """setpriv arguments that drop root to `user` (postgres refuses to run as root)."""
    import pwd

    entry = pwd.getpwnam(user)
    return [f"--reuid={entry.pw_uid}", f"--regid={entry.pw_gid}", "--clear-groups", "--"]


def chown_tree(path: Path, user: str | None) -> None:
    if user is None or os.geteuid() != 0:
        return
    import pwd

    entry = pwd.getpwnam(user)
    for root, dirs, files in os.walk(path):
        for name in [*dirs, *files]:
            os.chown(os.path.join(root, name), entry.pw_uid, entry.pw_gid)
    os.chown(path, entry.pw_uid, entry.pw_gid)


# --- the container as the kubelet sees it -----------------------------------------------------


def secret_values(recording: Recording, name: str) -> dict[str, str]:
    """A Secret's stringData as recorded (generated values are the mocks' placeholders)."""
    data: dict[str, str] = recording.get("Secret", name).manifest()["stringData"]
    return dict(data)


def container_env(
    spec: Mapping[str, Any],
    secrets: Mapping[str, Mapping[str, str]],
    fields: Mapping[str, str],
) -> dict[str, str]:
    """The environment the kubelet gives the container `spec`: plain values, `fieldRef`s from
    `fields`, `secretKeyRef`s from `secrets[name][key]`, with `$(VAR)` expanded in values."""
    env: dict[str, str] = {}
    for item in spec.get("env", []):
        if "value" in item:
            env[item["name"]] = expand(item["value"], env)
            continue
        source = item["valueFrom"]
        if "fieldRef" in source:
            env[item["name"]] = fields[source["fieldRef"]["fieldPath"]]
        elif "secretKeyRef" in source:
            ref = source["secretKeyRef"]
            env[item["name"]] = secrets[ref["name"]][ref["key"]]
        else:
            raise AssertionError(f"unsupported env source {source}")
    return env


_REFERENCE = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)")


def expand(text: str, env: Mapping[str, str]) -> str:
    """Kubernetes' `$(VAR)` expansion: defined variables are replaced, `$$` escapes a `$`, and
    an undefined reference stays as written."""

    def one(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1)
        return env.get(name, match.group(0))

    return _REFERENCE.sub(one, text)


def base_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """A minimal process environment (PATH, LANG) plus `extra`: nothing of the test runner's."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"}
    env.update(extra or {})
    return env


def rewrite(text: str, paths: Mapping[str, Path]) -> str:
    """Replace each container path with its local stand-in, in one pass (the longest path
    first, so `/etc/redis` is not taken for `/etc`; a path is followed by `/` or no path char)."""
    if not paths:
        return text
    alternatives = "|".join(re.escape(p) for p in sorted(paths, key=len, reverse=True))
    pattern = re.compile(f"({alternatives})(?![\\w.-])")
    return pattern.sub(lambda m: str(paths[m.group(1)]), text)


def run_async(coroutine: Any) -> Any:
    """Run a coroutine on a loop of its own, leaving the thread's current loop alone (the
    session's offline runs use it; `asyncio.run` would unset it)."""
    import asyncio

    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(coroutine)
    finally:
        loop.close()


def referenced_secrets(spec: Mapping[str, Any]) -> tuple[str, ...]:
    """Names of the Secrets the container's env reads, in order of first use."""
    names: list[str] = []
    for item in spec.get("env", []):
        ref = item.get("valueFrom", {}).get("secretKeyRef")
        if ref and ref["name"] not in names:
            names.append(ref["name"])
    return tuple(names)


def http_status(url: str, timeout: float = 3) -> int:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            status: int = response.status
            return status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return 0


def http_json(url: str, timeout: float = 3) -> Any:
    import json
    import urllib.request

    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.loads(response.read())


def mounted_secret_names(pod: Mapping[str, Any]) -> tuple[str, ...]:
    """Names of the Secrets the pod mounts (Secret volumes and projected Secrets)."""
    names: list[str] = []
    for volume in pod.get("volumes", []):
        found = [volume["secret"]["secretName"]] if "secret" in volume else []
        for source in volume.get("projected", {}).get("sources", []):
            if "secret" in source:
                found.append(source["secret"]["name"])
        names += [n for n in found if n not in names]
    return tuple(names)


def secret_files(
    pod: Mapping[str, Any],
    spec: Mapping[str, Any],
    secrets: Mapping[str, Mapping[str, str]],
    root: Path,
) -> dict[str, Path]:
    """Write the Secrets container `spec` mounts as the kubelet would, under `root/<volume>`;
    returns mount path -> local directory, for `rewrite`."""
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    paths: dict[str, Path] = {}
    for mount in spec.get("volumeMounts", []):
        volume = volumes.get(mount["name"], {})
        files: dict[str, str] = {}
        if "secret" in volume:
            data = secrets[volume["secret"]["secretName"]]
            items = volume["secret"].get("items") or [{"key": k, "path": k} for k in data]
            files = {item["path"]: data[item["key"]] for item in items}
        for source in volume.get("projected", {}).get("sources", []):
            data = secrets[source["secret"]["name"]]
            files.update({item["path"]: data[item["key"]] for item in source["secret"]["items"]})
        if not files:
            continue
        local = root / mount["name"]
        for relative, value in files.items():
            (local / relative).parent.mkdir(parents=True, exist_ok=True)
            (local / relative).write_text(value)
        paths[mount["mountPath"]] = local
    return paths
