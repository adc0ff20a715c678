"""Compose the tiers in dependency order and export what operators and other stacks need."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from components.graph import DependencyGraph
from components.messaging import MessageBus, MessageBusArgs
from components.namespace import NamespaceArgs, PlatformNamespace
from components.workload import Platform
from stacks.graph import build_graph
from stacks.settings import PlatformSettings


def providers(settings: PlatformSettings) -> list[pulumi.ProviderResource]:
    """One explicit provider per package; default providers are disabled in stack config."""
    kubernetes = k8s.Provider(
        "kubernetes",
        context=settings.kube_context,
        cluster_identifier=settings.provider_identity,
        enable_server_side_apply=True,
        render_yaml_to_directory=settings.render_dir,
        delete_unreachable=False,
    )
    return [kubernetes, random.Provider("random")]


def message_bus_args(
    settings: PlatformSettings, platform: Platform, graph: DependencyGraph
) -> MessageBusArgs:
    bus = settings.message_bus
    return MessageBusArgs(
        platform=platform,
        graph=graph,
        image=bus.image,
        exporter_image=bus.exporter_image,
        box_image=bus.nats_box.image,
        replicas=bus.replicas,
        resources=bus.resources.build(),
        exporter_resources=bus.exporter_resources.build(),
        job_resources=bus.job_resources.build(),
        box_resources=bus.nats_box.resources.build(),
        storage_size=bus.storage.size,
        storage_class=bus.storage.storage_class,
        max_memory_store=bus.jetstream.max_memory_store,
        max_file_store=bus.jetstream.max_file_store,
        bucket=bus.bucket,
        bucket_history=bus.bucket_history,
        auth=bus.auth,
        lame_duck_seconds=bus.lame_duck_seconds,
        nats_box=bus.nats_box.enabled,
    )


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
        monitoring_namespace=settings.monitoring_namespace,
    )
    # Tiers in dependency order; each gets typed args and the outputs of the tiers it needs.
    tier_opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[namespace]))
    # --- tiers (composed below in dependency order) ---
    bus = MessageBus("message-bus", message_bus_args(settings, platform, graph), tier_opts)
    pulumi.export("natsUrl", bus.url)
    pulumi.export("natsKvBucket", bus.bucket)
    pulumi.export("natsCredentialsSecret", bus.endpoint.credentials_secret)

    pulumi.export("namespace", namespace.name)
    pulumi.export("release", platform.release)
