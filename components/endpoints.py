"""What one tier hands another: where a shared service listens and which Secret holds its
credentials, plus the environment a client workload needs to reach it.

Credentials travel as Secret references (`SecretEnv`), never as values; URLs that need a password
use Kubernetes' `$(VAR)` expansion of an earlier variable.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

import pulumi

from components.datafiles import read_text
from components.graph import DependencyGraph
from components.workload import Container, EnvValue, Mount, Resources, SecretEnv

BUCKET_WAIT = "wait-for-kv-bucket"


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

    def env(self) -> dict[str, EnvValue]:
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
        (from the Secret, as the KV Job gets them). Put it after any TCP wait for the bus."""
        if not self.registers(graph, name):
            return ()
        return (
            Container(
                name=BUCKET_WAIT,
                image=self.cli_image,
                resources=self.cli_resources,
                command=("sh", "-c", read_text(__file__, "scripts/wait-for-kv-bucket.sh")),
                # The CLI's home on the pod's `tmp` scratch (the root filesystem is read-only).
                env={**self.env(), "HOME": "/tmp"},
                mounts=(Mount("tmp", "/tmp"),),
            ),
        )


@dataclass(frozen=True)
class DatabaseEndpoint:
    """PostgreSQL for applications: the application role's password is in `secret[password_key]`."""

    host: str
    port: int
    database: str
    user: str
    secret: pulumi.Input[str]
    password_key: str = "password"
    # libpq sslmode, set for managed servers (e.g. `require` for Supabase); None: the default.
    ssl_mode: str | None = None

    def env(self) -> dict[str, EnvValue]:
        query = f"?sslmode={self.ssl_mode}" if self.ssl_mode else ""
        env: dict[str, EnvValue] = {
            "POSTGRES_HOST": self.host,
            "POSTGRES_PORT": str(self.port),
            "POSTGRES_DB": self.database,
            "POSTGRES_USER": self.user,
            "POSTGRES_PASSWORD": SecretEnv(self.secret, self.password_key),
            "SERVICE_POSTGRES_URL": (
                f"postgresql://{self.user}:$(POSTGRES_PASSWORD)@{self.host}:{self.port}"
                f"/{self.database}{query}"
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

    def env(self) -> dict[str, EnvValue]:
        return {
            "REDIS_HOST": self.host,
            "REDIS_PORT": str(self.port),
            "REDIS_PASSWORD": SecretEnv(self.secret, self.password_key),
            "REDIS_CLUSTER": "true" if self.cluster else "false",
            "SERVICE_REDIS_URL": f"redis://{self.host}:{self.port}",
        }
