"""PostgreSQL (Debian's; see the report for the image's version): initdb with the manifest's
POSTGRES_INITDB_ARGS and the superuser password file, the init script from its ConfigMap,
postgres with the container's arguments; the application role logs in to its database over TCP
with scram (also through SERVICE_POSTGRES_URL's form), the superuser cannot log in without its
password, and the backup CronJob's pg_dump restores into a fresh database (issue 14).

The image's entrypoint is stood in for by tests/real/data/postgres-entrypoint.sh (its steps);
loopback overrides: `-c listen_addresses=127.0.0.1 -c port=<free> -c unix_socket_directories`;
mount paths become local directories; the backup script's Service host becomes 127.0.0.1.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import container, env_of, manifest, pod_spec
from tests.real.credentials import secrets_with
from tests.real.pod import (
    DATA,
    base_env,
    chown_tree,
    container_env,
    free_port,
    image_version,
    mounted_secret_names,
    output,
    program,
    rewrite,
    running,
    secret_files,
    version,
)
from tools.offline import Recording

pytestmark = pytest.mark.real

PG = "aegis-trader-postgres"
USER = "postgres"  # the OS user the server runs as when the tests run as root
APP_PASSWORD = "Pw4E1zX9 q'uo\"te\\back$slash{;}"
SUPERUSER_PASSWORD = "Sp0G0pQ4vT8xZ2bN6mK1sW5yR9cL3hJ7"


def test_postgres_version_against_the_image() -> None:
    found = version(output([program("postgres"), "--version"]))
    # Debian 12 ships 15; the image runs 16: one major behind (see the report).
    assert found[0] >= image_version("postgres")[0] - 1


def psql(port: int, user: str, database: str, password: str | None, sql: str) -> str:
    env = base_env({"PGPASSWORD": password} if password is not None else {})
    done = subprocess.run(
        [
            program("psql"),
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            "-U",
            user,
            "-d",
            database,
            "-w",
            "-At",
            "-c",
            sql,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    return (done.stdout + done.stderr).strip()


@pytest.fixture
def workdir() -> Iterator[Path]:
    """A directory the server's OS user can reach (pytest's own is private to root)."""
    path = Path(tempfile.mkdtemp(prefix="trading-pg-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def run_script(
    spec: dict[str, Any], pod: dict[str, Any], secrets: Any, root: Path, port: int, bindir: str
) -> subprocess.CompletedProcess[str]:
    """Run a Job's `sh -c` script with its environment and mounted Secrets, its PGHOST (the
    Service) replaced by the loopback server."""
    files = secret_files(pod, spec, secrets, root)
    env = {k: rewrite(v, files) for k, v in container_env(spec, secrets, {}).items()}
    env.update(PGHOST="127.0.0.1", PGPORT=str(port))
    env = base_env(env)
    env["PATH"] = f"{bindir}{os.pathsep}{env['PATH']}"
    (script,) = spec["args"]
    return subprocess.run(
        ["sh", "-c", script], env=env, capture_output=True, text=True, timeout=120
    )


def test_server_creates_each_consumers_database_and_backs_up_every_one(
    stack: Recording, workdir: Path
) -> None:
    """initdb with the manifest's arguments; the init script creates the consumers it sees;
    the Job adds one a server predates and re-sets a rotated password, twice without harm;
    each role reaches only its own database; the backup dumps every database."""
    tmp_path = workdir
    program("initdb")
    if os.geteuid() == 0:
        program("setpriv")
    spec = container(stack, "StatefulSet", PG, "postgres")
    pod = pod_spec(stack, "StatefulSet", PG)
    databases = stack.outputs["postgres"]["databases"]
    secrets = {k: dict(v) for k, v in secrets_with(stack, mounted_secret_names(pod), "").items()}
    secrets[stack.outputs["postgres"]["secret"]]["superuser-password"] = SUPERUSER_PASSWORD
    passwords = {}
    for i, (consumer, database) in enumerate(sorted(databases.items())):
        passwords[consumer] = f"{APP_PASSWORD}{i}"
        secrets[database["secret"]]["password"] = passwords[consumer]
    (later,) = [c for c in databases if c == "backend"]  # a consumer the server predates
    files = secret_files(pod, spec, secrets, tmp_path / "secrets")
    shutil.rmtree(files["/run/secrets/databases"] / later)
    paths: dict[str, Path] = dict(files)
    for m in spec["volumeMounts"]:
        if m["mountPath"] in paths:
            continue
        local = tmp_path / m["name"] / (m.get("subPath") or "")
        paths[m["mountPath"]] = local
        (local.parent if m.get("subPath") else local).mkdir(parents=True, exist_ok=True)
    init = manifest(stack, "ConfigMap", f"{PG}-init")["data"]
    for key, text in init.items():
        (tmp_path / "initdb" / key).write_text(rewrite(text, paths))
    env = {k: rewrite(v, paths) for k, v in container_env(spec, secrets, {}).items()}
    port = free_port()
    socket_dir = paths["/var/run/postgresql"]
    env.update(INITDB_DIR=str(tmp_path / "initdb"), SOCKET_DIR=str(socket_dir), PORT=str(port))
    bindir = str(Path(program("initdb")).parent)
    env = base_env(env)
    env["PATH"] = f"{bindir}{os.pathsep}{env['PATH']}"
    chown_tree(tmp_path, USER)
    entrypoint = tmp_path / "entrypoint.sh"
    shutil.copy(DATA / "postgres-entrypoint.sh", entrypoint)
    chown_tree(tmp_path, USER)
    argv = [
        "bash",
        str(entrypoint),
        *spec["args"],
        *("-c", "listen_addresses=127.0.0.1", "-c", f"port={port}"),
        *("-c", f"unix_socket_directories={socket_dir}"),
    ]
    with running(
        argv,
        tmp_path / "postgres.log",
        env=env,
        port=port,
        timeout=120,
        user=USER if os.geteuid() == 0 else None,
    ):

        def login(consumer: str, database: str | None = None) -> str:
            d = databases[consumer]
            return psql(port, d["user"], database or d["database"], passwords[consumer], "select 1")

        first = next(c for c in databases if c != later)
        assert login(first) == "1"
        # The init script did not see it: no such role (PostgreSQL says only "failed").
        assert "password authentication failed" in login(later)
        # The Job brings the existing server up to date; a rotated password is taken over.
        passwords[first] += "rotated"
        secrets[databases[first]["secret"]]["password"] = passwords[first]
        job = manifest(stack, "Job", f"{PG}-databases")["spec"]["template"]["spec"]
        (creator,) = job["containers"]
        for run in (1, 2):
            done = run_script(creator, job, secrets, tmp_path / f"job-{run}", port, bindir)
            assert done.returncode == 0, done.stdout + done.stderr
        for consumer, d in databases.items():
            assert login(consumer) == "1"
            owner = psql(
                port,
                d["user"],
                d["database"],
                passwords[consumer],
                "select pg_get_userbyid(datdba) from pg_database"
                " where datname = current_database()",
            )
            assert owner == d["user"]
            other = next(o for o in databases.values() if o is not d)
            # One consumer per database: no role connects to another's.
            assert "permission denied" in login(consumer, other["database"])
        no_password = psql(port, "postgres", "postgres", None, "select 1")
        assert "password authentication failed" in no_password or "no password" in no_password
        su = SUPERUSER_PASSWORD
        assert psql(port, "postgres", "postgres", su, "show shared_preload_libraries") == (
            "pg_stat_statements"
        )
        assert psql(port, "postgres", "postgres", su, "show data_checksums") == "on"
        extensions = psql(port, "postgres", "postgres", su, "select extname from pg_extension")
        assert "pg_stat_statements" in extensions.split()
        for consumer, d in databases.items():
            psql(
                port,
                d["user"],
                d["database"],
                passwords[consumer],
                f"create table orders (id int primary key, side text);"
                f" insert into orders values (1, '{consumer}')",
            )

        cron = manifest(stack, "CronJob", f"{PG}-backup")
        backup_pod = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]
        (backup,) = backup_pod["containers"]
        backups = tmp_path / "backups"
        backups.mkdir()
        backup = {
            **backup,
            "env": [
                {**e, "value": str(backups)} if e["name"] == "BACKUPS" else e for e in backup["env"]
            ],
        }
        done = run_script(backup, backup_pod, secrets, tmp_path / "backup", port, bindir)
        assert done.returncode == 0, done.stdout + done.stderr
        (folder,) = [p for p in backups.iterdir() if p.name.endswith("Z")]
        dumps = {p.stem for p in folder.glob("*.dump")}
        assert {d["database"] for d in databases.values()} | {"postgres"} <= dumps
        assert "CREATE ROLE" in (folder / "globals.sql").read_text()
        restore_env = base_env({"PGPASSWORD": su})
        for consumer, d in databases.items():
            target = f"restored_{d['database']}"
            psql(port, "postgres", "postgres", su, f"create database {target}")
            restore = subprocess.run(
                [
                    program("pg_restore"),
                    *("-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "-d", target),
                    "--no-owner",
                    str(folder / f"{d['database']}.dump"),
                ],
                env=restore_env,
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert restore.returncode == 0, restore.stderr
            side = psql(port, "postgres", target, su, "select side from orders where id = 1")
            assert side == consumer

        # A client's view: SERVICE_POSTGRES_URL (no password) plus the password file.
        backend = container(stack, "Deployment", "aegis-trader-backend", "backend")
        client = env_of(backend)
        url = client["SERVICE_POSTGRES_URL"].replace(f"{PG}:5432", f"127.0.0.1:{port}")
        assert "@" in url and ":" not in url.split("@")[0].removeprefix("postgresql://")
        via_url = subprocess.run(
            [program("psql"), url, "-w", "-At", "-c", "select current_user"],
            env=base_env({"PGPASSWORD": passwords["backend"]}),
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert via_url.stdout.strip() == databases["backend"]["user"], via_url.stderr
