"""What one tier hands another: where a shared service listens and which Secret holds its
credentials, plus the environment a client workload needs to reach it.

Credentials travel as Secret references, never as values. Clients that read files (the
platform's own images: the FastAPI backend, the trading services) get the Secret mounted
(`files()`: its volume and mount) and `<NAME>_FILE` variables naming the files (`env()`); URLs
carry no password. `BusEndpoint.secret_env()` is for images that read only the environment.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote, urlsplit

import pulumi

from components.datafiles import read_text
from components.graph import DependencyGraph
from components.workload import Container, EnvValue, Manifest, Mount, Resources, SecretEnv

BUCKET_WAIT = "wait-for-kv-bucket"
# Read-only for the owner and the pod's fsGroup.
SECRET_FILE_MODE = 0o440


def secret_volume(name: str, secret: pulumi.Input[str]) -> Manifest:
    """A pod volume of Secret `secret`'s keys as read-only files."""
    return {"name": name, "secret": {"secretName": secret, "defaultMode": SECRET_FILE_MODE}}


@dataclass(frozen=True)
class SecretFiles:
    """A Secret mounted read-only at `path` as volume `volume`."""

    volume: str
    secret: pulumi.Input[str]
    path: str

    def manifest(self) -> Manifest:
        return secret_volume(self.volume, self.secret)

    def mount(self) -> Mount:
        return Mount(self.volume, self.path, read_only=True)

    def file(self, key: str) -> str:
        return f"{self.path}/{key}"


@dataclass(frozen=True)
class BusEndpoint:
    """NATS: `url` is `nats://{release}-nats:4222`; `credentials_secret` (keys `user`,
    `password`) is None where the bus allows anonymous clients (local).

    `node` is the bus's name in the dependency graph. A service whose node calls it registers in
    `bucket`, so it starts only once the bucket exists: `bucket_waits` is its init container,
    run with the `nats` CLI of `cli_image` (nats-box) sized by `cli_resources`."""

    url: str
    bucket: str
    cli_image: str
    cli_resources: Resources
    credentials_secret: pulumi.Input[str] | None = None
    node: str = "nats"

    def address(self) -> tuple[str, int]:
        """Host and port of `nats://host:port` (4222 when the URL names none)."""
        url = urlsplit(self.url)
        return url.hostname or self.url, url.port or 4222

    def files(self) -> SecretFiles | None:
        if self.credentials_secret is None:
            return None
        return SecretFiles("nats-credentials", self.credentials_secret, "/run/secrets/nats")

    def env(self) -> dict[str, EnvValue]:
        """NATS_USER_FILE / NATS_PASSWORD_FILE name the files of `files()`."""
        env: dict[str, EnvValue] = {"NATS_URL": self.url, "NATS_KV_BUCKET": self.bucket}
        files = self.files()
        if files is not None:
            env["NATS_USER_FILE"] = files.file("user")
            env["NATS_PASSWORD_FILE"] = files.file("password")
        return env

    def secret_env(self) -> dict[str, EnvValue]:
        """NATS_USER / NATS_PASSWORD from the Secret, for images that read no files."""
        env: dict[str, EnvValue] = {"NATS_URL": self.url, "NATS_KV_BUCKET": self.bucket}
        if self.credentials_secret is not None:
            env["NATS_USER"] = SecretEnv(self.credentials_secret, "user")
            env["NATS_PASSWORD"] = SecretEnv(self.credentials_secret, "password")
        return env

    def registers(self, graph: DependencyGraph, name: str) -> bool:
        """Whether the graph's service `name` calls the bus, and so registers in the bucket."""
        return self.node in graph[name].calls

    def bucket_waits(self, graph: DependencyGraph, name: str) -> tuple[Container, ...]:
        """`wait-for-kv-bucket` for a service that registers (none for one that doesn't): it
        loops on `nats kv info <bucket>` with the service's own NATS settings and credentials
        (the files of `files()`: the pod must carry that volume). Put it after any TCP wait for
        the bus."""
        if not self.registers(graph, name):
            return ()
        files = self.files()
        return (
            Container(
                name=BUCKET_WAIT,
                image=self.cli_image,
                resources=self.cli_resources,
                command=("sh", "-c", read_text(__file__, "scripts/wait-for-kv-bucket.sh")),
                # The CLI's home on the pod's `tmp` scratch (the root filesystem is read-only).
                env={**self.env(), "HOME": "/tmp"},
                mounts=(Mount("tmp", "/tmp"), *((files.mount(),) if files else ())),
            ),
        )


@dataclass(frozen=True)
class DatabaseEndpoint:
    """PostgreSQL for one consumer: its own role and database; the role's password is in
    `secret[password_key]`, mounted as a file."""

    host: str
    port: int
    database: str
    user: str
    secret: pulumi.Input[str]
    password_key: str = "password"
    # libpq sslmode, set for managed servers (e.g. `require` for Supabase); None: the default.
    ssl_mode: str | None = None

    def files(self) -> SecretFiles:
        return SecretFiles("postgres-credentials", self.secret, "/run/secrets/postgres")

    def env(self) -> dict[str, EnvValue]:
        """The URL names no password (libpq form; the client adds POSTGRES_PASSWORD_FILE's)."""
        query = f"?sslmode={self.ssl_mode}" if self.ssl_mode else ""
        user, database = quote(self.user, safe=""), quote(self.database, safe="")
        env: dict[str, EnvValue] = {
            "POSTGRES_HOST": self.host,
            "POSTGRES_PORT": str(self.port),
            "POSTGRES_DB": self.database,
            "POSTGRES_USER": self.user,
            "POSTGRES_PASSWORD_FILE": self.files().file(self.password_key),
            "SERVICE_POSTGRES_URL": (
                f"postgresql://{user}@{self.host}:{self.port}/{database}{query}"
            ),
        }
        if self.ssl_mode:
            env["PGSSLMODE"] = self.ssl_mode
        return env


@dataclass(frozen=True)
class CacheEndpoint:
    """Redis: password in `secret[password_key]`; `cluster` tells clients to use cluster mode."""

    host: str
    port: int
    secret: pulumi.Input[str]
    password_key: str = "password"
    cluster: bool = False

    def files(self) -> SecretFiles:
        return SecretFiles("redis-credentials", self.secret, "/run/secrets/redis")

    def env(self) -> dict[str, EnvValue]:
        return {
            "REDIS_HOST": self.host,
            "REDIS_PORT": str(self.port),
            "REDIS_PASSWORD_FILE": self.files().file(self.password_key),
            "REDIS_CLUSTER": "true" if self.cluster else "false",
            "SERVICE_REDIS_URL": f"redis://{self.host}:{self.port}",
        }
