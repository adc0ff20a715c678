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

import pytest

from stacks.offline import Recording
from tests.helpers import container, manifest
from tests.real.credentials import secrets_with
from tests.real.pod import (
    DATA,
    base_env,
    chown_tree,
    container_env,
    free_port,
    image_version,
    output,
    program,
    referenced_secrets,
    rewrite,
    running,
    version,
)

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


def test_server_initialises_and_serves_the_app_role_and_backups(
    stack: Recording, workdir: Path
) -> None:
    tmp_path = workdir
    program("initdb")
    if os.geteuid() == 0:
        program("setpriv")
    spec = container(stack, "StatefulSet", PG, "postgres")
    secrets = {}
    for name, data in secrets_with(stack, referenced_secrets(spec), "").items():
        secrets[name] = dict(data)
    (secret_name,) = {
        v["secret"]["secretName"]
        for v in manifest(stack, "StatefulSet", PG)["spec"]["template"]["spec"]["volumes"]
        if "secret" in v
    }
    secrets.setdefault(secret_name, secrets_with(stack, (secret_name,), "")[secret_name])
    values = secrets[secret_name]
    values["password"], values["superuser-password"] = APP_PASSWORD, SUPERUSER_PASSWORD
    paths = {m["mountPath"]: tmp_path / m["name"] for m in spec["volumeMounts"]}
    for m in spec["volumeMounts"]:
        if m.get("subPath"):
            paths[m["mountPath"]] = tmp_path / m["name"] / m["subPath"]
    for mount, local in paths.items():
        (local.parent if mount.endswith(".sh") else local).mkdir(parents=True, exist_ok=True)
    for key, value in values.items():
        (paths["/run/secrets/postgres"] / key).write_text(value)
    init = manifest(stack, "ConfigMap", f"{PG}-init")["data"]
    for key, text in init.items():
        (tmp_path / "initdb" / key).write_text(rewrite(text, paths))
    env = container_env(spec, secrets, {})
    env = {k: rewrite(v, paths) for k, v in env.items()}
    port = free_port()
    socket_dir = paths["/var/run/postgresql"]
    env.update(INITDB_DIR=str(tmp_path / "initdb"), SOCKET_DIR=str(socket_dir), PORT=str(port))
    bindir = str(Path(program("initdb")).parent)
    env = base_env(env)
    env["PATH"] = f"{bindir}{os.pathsep}{env['PATH']}"
    for local in paths.values():
        chown_tree(local if local.is_dir() else local.parent, USER)
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
        app = values["username"]
        database = values["database"]
        assert psql(port, app, database, APP_PASSWORD, "select current_user") == app
        owner = psql(
            port,
            app,
            database,
            APP_PASSWORD,
            "select pg_get_userbyid(datdba) from pg_database where datname = current_database()",
        )
        assert owner == app
        assert "password authentication failed" in psql(port, app, database, "wrong", "select 1")
        assert "password authentication failed" in psql(
            port, "postgres", database, None, "select 1"
        ) or "no password supplied" in psql(port, "postgres", database, None, "select 1")
        preload = psql(
            port, "postgres", database, SUPERUSER_PASSWORD, "show shared_preload_libraries"
        )
        assert preload == "pg_stat_statements"
        checksums = psql(port, "postgres", database, SUPERUSER_PASSWORD, "show data_checksums")
        assert checksums == "on"
        psql(
            port,
            app,
            database,
            APP_PASSWORD,
            "create table orders (id int primary key, side text);"
            " insert into orders values (1, 'buy')",
        )

        job = manifest(stack, "CronJob", f"{PG}-backup")
        (backup,) = job["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
        backups = tmp_path / "backups"
        backups.mkdir()
        script = rewrite(backup["args"][0], {"/backups": backups}).replace(
            f"--host={PG} --port=5432", f"--host=127.0.0.1 --port={port}"
        )
        job_env = base_env(container_env(backup, secrets, {}))
        job_env["PATH"] = f"{bindir}{os.pathsep}{job_env['PATH']}"
        done = subprocess.run(
            ["sh", "-c", script], env=job_env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stdout + done.stderr
        (dump,) = backups.glob("trading-*.dump")
        psql(port, "postgres", "postgres", SUPERUSER_PASSWORD, "create database restored")
        restore = subprocess.run(
            [
                program("pg_restore"),
                "-h",
                "127.0.0.1",
                "-p",
                str(port),
                "-U",
                "postgres",
                "-d",
                "restored",
                "--no-owner",
                str(dump),
            ],
            env=job_env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert restore.returncode == 0, restore.stderr
        assert (
            psql(
                port,
                "postgres",
                "restored",
                SUPERUSER_PASSWORD,
                "select side from orders where id = 1",
            )
            == "buy"
        )
        url = f"postgresql://{app}@127.0.0.1:{port}/{database}"
        via_url = subprocess.run(
            [program("psql"), url, "-w", "-At", "-c", "select 1"],
            env=base_env({"PGPASSWORD": APP_PASSWORD}),
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert via_url.stdout.strip() == "1", via_url.stderr
