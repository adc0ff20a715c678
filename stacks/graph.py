"""Assemble the platform's dependency graph from every tier's settings, before any resource exists.

Each tier contributes the nodes it serves (name, host, ports, selector) and the calls its
workloads declare; unknown callees and cycles become a ConfigError naming the config key.
"""

from __future__ import annotations

from dataclasses import replace

from components.graph import DependencyGraph, GraphError, Node
from components.workload import Platform
from stacks.errors import ConfigError
from stacks.settings import PlatformSettings


def tier_nodes(settings: PlatformSettings) -> list[Node]:
    """Every callable service of the platform. Tiers append their nodes here."""
    nodes: list[Node] = []
    # --- tier nodes (one line per tier) ---
    nodes += settings.message_bus.nodes(platform_names(settings))
    nodes += settings.data_stores.nodes(platform_names(settings))
    nodes += settings.engine.nodes(platform_names(settings))
    nodes += settings.api.nodes(platform_names(settings), settings.engine)
    nodes += settings.ui.nodes(platform_names(settings), settings.images)
    nodes += settings.trading_services.nodes(platform_names(settings), settings.images)
    return nodes


def platform_names(settings: PlatformSettings) -> Platform:
    """Enough of the platform to name things (the namespace is not needed for names)."""
    return Platform(release=settings.release, namespace=settings.namespace, version="")


def build_graph(settings: PlatformSettings) -> DependencyGraph:
    nodes = tier_nodes(settings)
    entry = public_services(settings)
    nodes = [replace(n, public=True) if n.name in entry else n for n in nodes]
    try:
        graph = DependencyGraph(nodes)
    except GraphError as error:
        raise ConfigError(error.key, error.value, error.allowed) from None
    check_mesh(settings, graph)
    settings.api.check(graph, ingress=not settings.mesh.enabled)
    return graph


def public_services(settings: PlatformSettings) -> set[str]:
    """Services the mesh gateway (or, without the mesh, the Ingress) routes to: they admit the
    gateway's or the ingress controller's traffic."""
    mesh = settings.mesh
    if mesh.enabled:
        return {route.service for route in mesh.gateway.routes}
    return settings.api.ingress_services()


def check_mesh(settings: PlatformSettings, graph: DependencyGraph) -> None:
    """Mesh settings that only make sense against the graph (checked when the mesh is on: with
    it off, a route may name a service the stack has disabled)."""
    mesh = settings.mesh
    if not mesh.enabled:
        return
    services = sorted(n for n in graph.names if graph[n].ports)
    for i, route in enumerate(mesh.gateway.routes):
        if route.service not in services:
            raise ConfigError(
                f"mesh.gateway.routes.{i}.service",
                route.service,
                f"known services: {', '.join(services)}",
            )
    opt_out = mesh_opt_out(settings, graph)
    if settings.api.balancer.service_type == "LoadBalancer":
        raise ConfigError(
            "api.balancer.serviceType",
            "LoadBalancer",
            "must be ClusterIP while mesh.enabled: the Istio gateway is the public entry, and "
            "plaintext from a LoadBalancer would bypass it and be refused by STRICT mTLS",
        )
    platform = replace(platform_names(settings), mesh_opt_out=opt_out)
    if mesh.mtls_mode != "STRICT":
        return
    for caller, callee in sorted(graph.pairs()):
        if platform.out_of_mesh(graph[caller].component) and not platform.out_of_mesh(
            graph[callee].component
        ):
            component = graph[caller].component
            named = caller if component == caller else f"{caller} (component {component})"
            raise ConfigError(
                "mesh.optOut",
                caller,
                f"{named} calls {callee}, which accepts only mTLS (mtlsMode STRICT); "
                f"keep {caller} in the mesh or opt {callee} out too",
            )


def _names(entry: str, name: str) -> bool:
    """`entry` is `name`, or its prefix before `-<suffix>` (`hft-engine`: every shard)."""
    return name == entry or name.startswith(f"{entry}-")


def mesh_opt_out(settings: PlatformSettings, graph: DependencyGraph) -> tuple[str, ...]:
    """`mesh.optOut` as Kubernetes component names, which the pods' sidecar opt-out and the
    mesh's policies both match. An entry names services by component (`nginx`) or by graph name
    (`balancer`, resolved to its component), exactly or as a prefix before `-<n>`; an entry that
    names neither is a ConfigError. Empty when the mesh is off."""
    if not settings.mesh.enabled:
        return ()
    nodes = [graph[n] for n in graph.names]
    resolved: list[str] = []
    for entry in settings.mesh.opt_out:
        if any(_names(entry, node.component) for node in nodes):
            resolved.append(entry)
            continue
        components = sorted({node.component for node in nodes if _names(entry, node.name)})
        if not components:
            known = ", ".join(
                sorted(
                    n.name if n.name == n.component else f"{n.name} ({n.component})"
                    for n in nodes
                    if n.ports
                )
            )
            raise ConfigError(
                "mesh.optOut",
                entry,
                f"must name a service of the graph by its name or Kubernetes component: {known}",
            )
        resolved.extend(components)
    return tuple(dict.fromkeys(resolved))
