"""PostgreSQL on a managed server (seed 004's Supabase): an ExternalName Service, the admin
role's Secret, its callers' egress, and the Job creating each consumer's role and database."""

from __future__ import annotations

from collections.abc import Mapping

import pulumi_kubernetes as k8s

from components.datastores.args import ExternalPostgres
from components.datastores.common import POSTGRES, Scope
from components.datastores.postgres import Served, databases_job
from components.kube import kube
from components.secrets import Credentials


def external_postgres(
    scope: Scope, ext: ExternalPostgres, databases: Mapping[str, Credentials]
) -> Served:
    platform = scope.platform
    tier = "database"
    name = platform.name(POSTGRES)
    # The admin role's credentials, from secret config: only the Job below reads them.
    secret = kube(
        k8s.core.v1.Secret,
        f"{scope.name}-postgres-credentials",
        metadata=platform.metadata(POSTGRES, name=platform.name("postgres-credentials"), tier=tier),
        type="Opaque",
        # The Output of the secret config key stays a Pulumi secret in string_data.
        string_data={"username": ext.user, "password": ext.password},
        opts=scope.child,
    )
    kube(
        k8s.core.v1.Service,
        f"{scope.name}-postgres-svc",
        metadata=platform.metadata(POSTGRES, tier=tier),
        spec={
            "type": "ExternalName",
            "externalName": ext.host,
            "ports": [{"name": "postgres", "port": ext.port, "protocol": "TCP"}],
        },
        opts=scope.child,
    )
    callers = sorted(n.name for n in scope.graph.callers(POSTGRES))
    if callers:
        # The graph's egress rules select pods; a managed server is outside the cluster
        # (maybe in a peered private network), so its callers may reach any address on its port.
        kube(
            k8s.networking.v1.NetworkPolicy,
            f"{scope.name}-postgres-external-egress",
            metadata=platform.metadata(POSTGRES, name=f"{name}-external-egress", tier=tier),
            spec={
                "podSelector": {
                    "matchLabels": {"app.kubernetes.io/instance": platform.release},
                    "matchExpressions": [
                        {"key": "app.kubernetes.io/name", "operator": "In", "values": callers}
                    ],
                },
                "policyTypes": ["Egress"],
                "egress": [
                    {
                        "to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}],
                        "ports": [{"protocol": "TCP", "port": ext.port}],
                    }
                ],
            },
            opts=scope.child,
        )
    env = {"PGHOST": name, "PGPORT": str(ext.port), "PGUSER": ext.user}
    if ext.ssl_mode:
        env["PGSSLMODE"] = ext.ssl_mode
    databases_job(
        scope,
        databases,
        tier,
        ext.client_image,
        ext.job_resources,
        env,
        secret.metadata.name,
        "password",
        [secret],
    )
    return name, ext.port, secret.metadata.name, ext.ssl_mode


# --- Redis ---
