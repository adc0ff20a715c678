"""Assemble the platform's dependency graph from every tier's settings, before any resource exists.

Each tier contributes the nodes it serves (name, host, ports, selector) and the calls its
workloads declare; unknown callees and cycles become a ConfigError naming the config key.
"""

from __future__ import annotations

from components.graph import DependencyGraph, GraphError, Node
from components.messaging import bus_nodes
from components.workload import Platform
from stacks.errors import ConfigError
from stacks.settings import PlatformSettings


def tier_nodes(settings: PlatformSettings) -> list[Node]:
    """Every callable service of the platform. Tiers append their nodes here."""
    nodes: list[Node] = []
    # --- tier nodes (one line per tier) ---
    nodes += bus_nodes(platform_names(settings))
    return nodes


def platform_names(settings: PlatformSettings) -> Platform:
    """Enough of the platform to name things (the namespace is not needed for names)."""
    return Platform(release=settings.release, namespace=settings.namespace, version="")


def build_graph(settings: PlatformSettings) -> DependencyGraph:
    try:
        return DependencyGraph(tier_nodes(settings))
    except GraphError as error:
        raise ConfigError(error.key, error.value, error.allowed) from None
