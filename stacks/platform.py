"""Compose the tiers in dependency order and export what operators and other stacks need."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from components.api import Api
from components.datastores import DataStores
from components.engine import HftEngine
from components.mesh import (
    ServiceMesh,
    gateway_entry,
    namespace_labels,
)
from components.messaging import MessageBus
from components.namespace import NamespaceArgs, PlatformNamespace
from components.network import Peer
from components.release import ReleaseRecord, ReleaseRecordArgs
from components.services import TradingServices
from components.ui import Ui
from components.workload import Platform
from stacks.graph import build_graph, mesh_opt_out
from stacks.observability import compose_observability, otlp_endpoint
from stacks.settings import PlatformSettings
from stacks.settings.datastores import BACKEND_CONSUMER, TRADING_SERVICES_CONSUMER


def providers(settings: PlatformSettings) -> list[pulumi.ProviderResource]:
    """One explicit provider per package; default providers are disabled in stack config."""
    kubernetes = k8s.Provider(
        "kubernetes",
        context=settings.kube_context,
        cluster_identifier=settings.provider_identity,
        enable_server_side_apply=True,
        render_yaml_to_directory=settings.render_dir,
        delete_unreachable=False,
        # adoptExisting (docs/adoption.md): take over live objects in place, forcing conflicts
        # with Helm's field manager. Unset otherwise, so a name clash still fails loudly.
        upsert_existing_objects=True if settings.adopt_existing else None,
        enable_patch_force=True if settings.adopt_existing else None,
    )
    return [kubernetes, random.Provider("random")]


def public_entry(settings: PlatformSettings) -> Peer:
    """Where outside traffic comes from: the mesh gateway, or the ingress-nginx controller."""
    if settings.mesh.enabled:
        return gateway_entry(settings.mesh.ingress_namespace)
    return Peer({"app.kubernetes.io/name": "ingress-nginx"}, (), "ingress-nginx")


def deploy(settings: PlatformSettings) -> None:
    # Cross-tier validation first: a bad `calls` entry fails before any resource is registered.
    graph = build_graph(settings)
    opts = pulumi.ResourceOptions(providers=providers(settings))
    namespace = PlatformNamespace(
        "namespace",
        NamespaceArgs(
            name=settings.namespace,
            release=settings.release,
            version=settings.app_version,
            quota=settings.cluster.quota.hard(),
            container_defaults=settings.cluster.container_defaults.build(),
            protect=settings.cluster.protect_data,
            extra_labels=namespace_labels(settings.mesh.mode) if settings.mesh.enabled else {},
        ),
        opts,
    )
    platform = Platform(
        release=settings.release,
        namespace=namespace.name,
        version=settings.app_version,
        image_pull_policy=settings.cluster.image_pull_policy,
        spread_across_nodes=settings.cluster.spread_across_nodes,
        protect_data=settings.cluster.protect_data,
        monitoring_namespace=settings.scrape_namespace,
        otlp_endpoint=otlp_endpoint(settings),
        public_entry=public_entry(settings),
        mesh_opt_out=mesh_opt_out(settings, graph),
        secret_store=settings.secrets.external_store,
        mesh=settings.mesh.enabled,
    )
    # The mesh comes first: pods created before istiod would start without their sidecar.
    ready: list[pulumi.Resource] = [namespace]
    if settings.mesh.enabled:
        mesh_args = settings.mesh.build(
            platform,
            graph,
            namespace=settings.namespace,
            # The headers the balancer and the Ingress set (api.securityHeaders), on every host.
            security_headers=dict(settings.api.security_headers),
            max_replicas_cap=settings.cluster.max_replicas_cap,
        )
        ready.append(ServiceMesh("service-mesh", mesh_args, opts))
    # Tiers in dependency order; each gets typed args and the outputs of the tiers it needs.
    tier_opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=ready))
    # --- tiers (composed below in dependency order) ---
    bus = MessageBus("message-bus", settings.message_bus.build(platform, graph), tier_opts)
    pulumi.export("natsUrl", bus.url)
    pulumi.export("natsKvBucket", bus.bucket)
    pulumi.export("natsCredentialsSecret", bus.endpoint.credentials_secret)

    # Data stores; an external PostgreSQL's password is secret config, kept a Pulumi secret.
    stores = DataStores(
        "data-stores",
        settings.data_stores.build(
            platform, graph, pulumi.Config().get_secret("externalPostgresPassword")
        ),
        tier_opts,
    )
    pulumi.export(
        "postgres",
        {
            "host": stores.postgres_host,
            "port": stores.postgres_port,
            # The admin Secret (superuser, or the managed server's admin role).
            "secret": stores.postgres_secret,
            # Each consumer's database, role and Secret (keys username, password, database).
            "databases": {
                consumer: {"database": d.database, "user": d.user, "secret": d.secret}
                for consumer, d in stores.databases.items()
            },
            "toolingSecret": stores.tooling_secret,
        },
    )
    pulumi.export(
        "redis",
        {
            "host": stores.redis_host,
            "port": stores.redis_port,
            "cluster": stores.cache.cluster,
            "secret": stores.redis_secret,
        },
    )

    # Engine and API: the backend gets the bus, stores and engine shard endpoints.
    engine = HftEngine(
        "hft-engine", settings.engine.build(platform, graph, settings.images), tier_opts
    )
    api = Api(
        "api",
        settings.api.build(
            platform,
            graph,
            settings.images,
            engine_shards=engine.addresses,
            bus=bus.endpoint,
            database=stores.databases[BACKEND_CONSUMER],
            cache=stores.cache,
        ),
        tier_opts,
    )
    pulumi.export("engineShards", list(engine.addresses))
    pulumi.export("backendHost", api.backend_host)
    pulumi.export("balancerService", api.balancer_service)
    pulumi.export("balancerPort", api.balancer_port)
    pulumi.export("ingressHosts", api.hosts)

    # UI and trading services: the monitor on the bus; the catalogue on the bus and the stores.
    ui = Ui("ui", settings.ui.build(platform, graph, bus.endpoint, settings.images), tier_opts)
    trading = TradingServices(
        "trading-services",
        settings.trading_services.build(
            platform,
            graph,
            bus.endpoint,
            settings.images,
            stores.databases[TRADING_SERVICES_CONSUMER],
            stores.cache,
        ),
        tier_opts,
    )
    pulumi.export("ui", ui.outputs)
    pulumi.export(
        "tradingServices",
        {n: {"host": host, "port": trading.ports[n]} for n, host in trading.hosts.items()},
    )

    # Observability last: it scrapes what every tier above offers (their `scrape_targets`).
    targets = (
        *bus.scrape_targets,
        *stores.scrape_targets,
        *engine.scrape_targets,
        *api.scrape_targets,
        *ui.scrape_targets,
        *trading.scrape_targets,
    )
    observability = compose_observability(
        settings, platform, targets, tier_opts, kv_bucket=bus.bucket
    )
    # The release record after everything: a destroy must delete it first (protected: refused).
    tiers = [*ready, bus, stores, engine, api, ui, trading]
    ReleaseRecord(
        "release",
        ReleaseRecordArgs(platform=platform, tiers=[*tiers, *filter(None, [observability])]),
        opts,
    )

    pulumi.export("namespace", namespace.name)
    pulumi.export("release", platform.release)
