"""The DataStores component: each consumer's database credentials, PostgreSQL (in the cluster
or external), Redis, and seed 001's tooling Secret."""

from __future__ import annotations

import pulumi

from components.datastores.args import DataStoresArgs, ExternalPostgres
from components.datastores.common import POSTGRES, TRADING_SECRETS, Scope
from components.datastores.external_postgres import external_postgres
from components.datastores.postgres import in_cluster_postgres
from components.datastores.redis import redis_store
from components.endpoints import CacheEndpoint, DatabaseEndpoint
from components.secrets import Credentials, KeySource, credential_view
from components.workload import scrape_targets


class DataStores(pulumi.ComponentResource):
    """PostgreSQL and Redis for the other tiers; see the package docstring."""

    # Each consumer's own database, role and Secret, by consumer name.
    databases: dict[str, DatabaseEndpoint]
    cache: CacheEndpoint
    postgres_host: str
    postgres_port: int
    postgres_secret: pulumi.Input[str]
    redis_host: str
    redis_port: int
    redis_secret: pulumi.Input[str]

    def __init__(
        self, name: str, args: DataStoresArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("trading:data:DataStores", name, None, opts)
        platform = args.platform
        scope = Scope(self, name, platform, args.graph)

        database_credentials = {
            d.consumer: scope.credentials(
                f"postgres-{d.consumer}",
                ("password",),
                {"username": d.user, "database": d.database},
                component=POSTGRES,
            )
            for d in args.postgres.databases
        }
        if isinstance(args.postgres, ExternalPostgres):
            self.postgres_host, self.postgres_port, self.postgres_secret, ssl_mode = (
                external_postgres(scope, args.postgres, database_credentials)
            )
        else:
            self.postgres_host, self.postgres_port, self.postgres_secret, ssl_mode = (
                in_cluster_postgres(scope, args.postgres, database_credentials)
            )
        self.databases = {
            d.consumer: DatabaseEndpoint(
                host=self.postgres_host,
                port=self.postgres_port,
                database=d.database,
                user=d.user,
                secret=database_credentials[d.consumer].name,
                ssl_mode=ssl_mode,
            )
            for d in args.postgres.databases
        }
        self.cache, redis_credentials = redis_store(scope, args.redis)
        self.tooling_secret: str | None = None
        if args.tooling_consumer is not None:
            trading_secrets(scope, database_credentials[args.tooling_consumer], redis_credentials)
            self.tooling_secret = platform.name(TRADING_SECRETS)

        self.redis_host, self.redis_port = self.cache.host, self.cache.port
        self.redis_secret = self.cache.secret
        self.scrape_targets = scrape_targets(*scope.workloads)
        self.register_outputs(
            {
                "postgresHost": self.postgres_host,
                "postgresPort": self.postgres_port,
                "postgresSecret": self.postgres_secret,
                "databases": {
                    c: {"database": d.database, "user": d.user, "secret": d.secret}
                    for c, d in self.databases.items()
                },
                "redisHost": self.redis_host,
                "redisPort": self.redis_port,
                "redisSecret": self.redis_secret,
                "redisCluster": self.cache.cluster,
                "toolingSecret": self.tooling_secret,
            }
        )


def trading_secrets(scope: Scope, database: Credentials, redis: Credentials) -> None:
    """Seed 001's `trading-secrets` keys for its tooling and runbooks: REDIS_PASSWORD, and
    POSTGRES_USER / POSTGRES_PASSWORD of the tooling consumer's role (owner of its database)."""
    credential_view(
        f"{scope.name}-{TRADING_SECRETS}",
        scope.platform,
        TRADING_SECRETS,
        {
            "REDIS_PASSWORD": KeySource(redis, "password"),
            "POSTGRES_USER": KeySource(database, "username"),
            "POSTGRES_PASSWORD": KeySource(database, "password"),
        },
        scope.guarded,
    )
