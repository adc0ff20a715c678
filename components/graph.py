"""The one dependency graph: each service declares what it calls.

NetworkPolicy rules, Istio authorization, `SERVICE_<NAME>_URL` variables and startup order are all
derived from it, so who may talk to whom is written once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from components.naming import env_name


class GraphError(ValueError):
    """A call names no service, or the calls form a cycle."""

    def __init__(self, key: str, value: object, allowed: str) -> None:
        self.key, self.value, self.allowed = key, value, allowed
        super().__init__(f"{key}: {value!r} is not allowed; {allowed}")


@dataclass(frozen=True)
class ServicePort:
    name: str
    port: int
    protocol: str = "TCP"


@dataclass(frozen=True)
class Node:
    """A service: where it listens (no ports: a caller only, e.g. a Job) and whom it calls.

    `name` is how config and other nodes' `calls` name it; `component` is its one Kubernetes
    identity (`{release}-{component}` objects, `app.kubernetes.io/name`), which `host`,
    `selector` and `service_account` derive from, and which the mesh's opt-out matches. They
    differ only where a seed named the service otherwise (graph `balancer`, component `nginx`).
    """

    name: str
    host: str
    ports: tuple[ServicePort, ...]
    selector: Mapping[str, str]
    service_account: str
    scheme: str = "http"
    calls: tuple[str, ...] = ()
    # Where `calls` was declared (a config key), so errors point at the line to fix.
    declared_at: str = ""
    # Callers outside the graph that may reach it: the ingress gateway or balancer entry point.
    public: bool = False
    external_egress: bool = False
    labels: Mapping[str, str] = field(default_factory=dict)
    # Empty: the same as `name`.
    component: str = ""

    def __post_init__(self) -> None:
        if not self.component:
            object.__setattr__(self, "component", self.name)

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}:{self.ports[0].port}"


class DependencyGraph:
    """Validated, acyclic call graph over named services."""

    def __init__(self, nodes: Iterable[Node]) -> None:
        self._nodes: dict[str, Node] = {}
        for node in nodes:
            if node.name in self._nodes:
                raise GraphError(
                    node.declared_at or node.name, node.name, "service names are unique"
                )
            self._nodes[node.name] = node
        for node in self._nodes.values():
            for callee in node.calls:
                if callee not in self._nodes:
                    known = ", ".join(sorted(self._nodes))
                    raise GraphError(
                        node.declared_at or f"{node.name}.calls", callee, f"known services: {known}"
                    )
                if not self._nodes[callee].ports:
                    raise GraphError(
                        node.declared_at or f"{node.name}.calls",
                        callee,
                        "calls must name a service that listens on a port",
                    )
                if callee == node.name:
                    raise GraphError(
                        node.declared_at or f"{node.name}.calls",
                        callee,
                        "a service cannot call itself",
                    )
        self._order = self._topological_order()

    def _topological_order(self) -> list[str]:
        """Callees before callers; a cycle is an error naming the services on it."""
        order: list[str] = []
        state: dict[str, str] = {}

        def visit(name: str, path: list[str]) -> None:
            if state.get(name) == "done":
                return
            if state.get(name) == "active":
                cycle = [*path[path.index(name) :], name]
                raise GraphError(
                    self._nodes[path[-1]].declared_at or f"{path[-1]}.calls",
                    " -> ".join(cycle),
                    "calls must not form a cycle",
                )
            state[name] = "active"
            for callee in self._nodes[name].calls:
                visit(callee, [*path, name])
            state[name] = "done"
            order.append(name)

        for name in sorted(self._nodes):
            visit(name, [])
        return order

    def __contains__(self, name: object) -> bool:
        return name in self._nodes

    def __getitem__(self, name: str) -> Node:
        return self._nodes[name]

    @property
    def names(self) -> list[str]:
        return list(self._nodes)

    def startup_order(self) -> list[str]:
        return list(self._order)

    def callees(self, name: str) -> list[Node]:
        return [self._nodes[c] for c in self._nodes[name].calls]

    def callers(self, name: str) -> list[Node]:
        return [n for n in self._nodes.values() if name in n.calls]

    def service_env(self, name: str) -> dict[str, str]:
        """`SERVICE_<CALLEE>_URL` for every service `name` calls."""
        return {f"SERVICE_{env_name(c.name)}_URL": c.url for c in self.callees(name)}

    def pairs(self) -> set[tuple[str, str]]:
        """Every declared (caller, callee) pair."""
        return {(n.name, c) for n in self._nodes.values() for c in n.calls}
