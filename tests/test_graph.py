"""The dependency graph: validation, derived environment, order and network rules."""

from __future__ import annotations

import pytest

from components.graph import DependencyGraph, GraphError, Node, ServicePort
from components.network import access_from_graph, workload_policy_spec


def node(name: str, port: int, *calls: str, **extra: object) -> Node:
    return Node(
        name=name,
        host=f"rel-{name}",
        ports=(ServicePort("http", port),),
        selector={"app.kubernetes.io/name": name, "app.kubernetes.io/instance": "rel"},
        service_account=f"rel-{name}",
        calls=calls,
        declared_at=f"services.{name}.calls",
        **extra,  # type: ignore[arg-type]
    )


def test_service_env_names_each_callee_url() -> None:
    graph = DependencyGraph(
        [
            node("risk-manager", 8084),
            node("execution-engine", 8085),
            node("signal-generator", 8083, "risk-manager", "execution-engine"),
        ]
    )
    assert graph.service_env("signal-generator") == {
        "SERVICE_RISK_MANAGER_URL": "http://rel-risk-manager:8084",
        "SERVICE_EXECUTION_ENGINE_URL": "http://rel-execution-engine:8085",
    }
    assert graph.service_env("risk-manager") == {}


def test_startup_order_puts_callees_first() -> None:
    graph = DependencyGraph([node("a", 1, "b"), node("b", 2, "c"), node("c", 3)])
    order = graph.startup_order()
    assert order.index("c") < order.index("b") < order.index("a")


def test_unknown_callee_is_an_error_naming_the_key() -> None:
    with pytest.raises(GraphError) as raised:
        DependencyGraph([node("a", 1, "ghost")])
    assert raised.value.key == "services.a.calls"
    assert raised.value.value == "ghost"
    assert "known services: a" in str(raised.value)


def test_cycle_is_an_error_naming_its_members() -> None:
    with pytest.raises(GraphError, match=r"a -> b -> a|b -> a -> b") as raised:
        DependencyGraph([node("a", 1, "b"), node("b", 2, "a")])
    assert "cycle" in raised.value.allowed


def test_self_call_is_an_error() -> None:
    with pytest.raises(GraphError, match="cannot call itself"):
        DependencyGraph([node("a", 1, "a")])


def test_network_rules_admit_exactly_the_declared_callers() -> None:
    graph = DependencyGraph([node("db", 5432), node("api", 8000, "db"), node("ui", 3000, "api")])
    db = access_from_graph(graph, "db")
    assert [dict(p.selector)["app.kubernetes.io/name"] for p in db.ingress] == ["api"]
    assert db.egress == ()
    api = workload_policy_spec(graph["api"].selector, access_from_graph(graph, "api"))
    assert (
        api["ingress"][0]["from"][0]["podSelector"]["matchLabels"]["app.kubernetes.io/name"] == "ui"
    )
    assert api["ingress"][0]["ports"] == [{"protocol": "TCP", "port": 8000}]
    assert api["egress"][0]["to"][0]["podSelector"]["matchLabels"]["app.kubernetes.io/name"] == "db"
    assert api["egress"][0]["ports"] == [{"protocol": "TCP", "port": 5432}]


def test_scrapes_and_external_egress_are_explicit() -> None:
    graph = DependencyGraph([node("feed", 8086, external_egress=True)])
    access = access_from_graph(
        graph, "feed", scrape_ports=(ServicePort("http", 8086),), monitoring_namespace="monitoring"
    )
    spec = workload_policy_spec(graph["feed"].selector, access)
    scrape = spec["ingress"][0]["from"][0]
    assert scrape["namespaceSelector"]["matchLabels"] == {
        "kubernetes.io/metadata.name": "monitoring"
    }
    external = spec["egress"][0]
    assert external["to"][0]["ipBlock"]["cidr"] == "0.0.0.0/0"
    assert "10.0.0.0/8" in external["to"][0]["ipBlock"]["except"]
    assert {p["port"] for p in external["ports"]} == {443, 80}


def test_a_caller_only_node_cannot_be_called() -> None:
    job = Node("job", "rel-job", (), {"app.kubernetes.io/name": "job"}, "rel-job", calls=("db",))
    graph = DependencyGraph([node("db", 5432), job])
    assert [c.name for c in graph.callers("db")] == ["job"]
    with pytest.raises(GraphError, match="listens on a port"):
        DependencyGraph([node("db", 5432, "job"), job])
