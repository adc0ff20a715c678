"""Who may talk to whom is derived from the one dependency graph, in NetworkPolicies and (with
the mesh) Istio AuthorizationPolicies: every declared call is allowed exactly once, nothing else."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from components.graph import DependencyGraph
from stacks.config import load_settings, project_values
from stacks.graph import build_graph
from tools.offline import Recording, engine_value, stack_config

NAME = "app.kubernetes.io/name"


def graph_of(stack: str) -> DependencyGraph:
    values = project_values({k: engine_value(v) for k, v in stack_config(stack).items()})
    return build_graph(load_settings(values))


def policies_for(recording: Recording, selector: dict[str, str]) -> Iterator[dict[str, Any]]:
    for policy in recording.of_kind("NetworkPolicy"):
        spec = policy.manifest()["spec"]
        labels = spec["podSelector"].get("matchLabels", {})
        if labels and all(selector.get(k) == v for k, v in labels.items()):
            yield spec


def in_namespace_sources(spec: dict[str, Any], port: int) -> set[str]:
    """Names of same-namespace pods a policy admits on `port`."""
    sources = set()
    for rule in spec.get("ingress", []):
        if not any(p.get("port") == port for p in rule.get("ports", [])):
            continue
        for peer in rule.get("from", []):
            if "namespaceSelector" in peer or "ipBlock" in peer:
                continue
            sources.add(peer["podSelector"]["matchLabels"][NAME])
    return sources


def test_network_policies_admit_exactly_the_declared_callers(stack: Recording) -> None:
    graph = graph_of(stack.stack)
    checked = 0
    for name in graph.names:
        node = graph[name]
        if not node.ports:
            continue
        own = node.selector[NAME]
        for port in node.ports:
            admitted = set()
            for spec in policies_for(stack, dict(node.selector)):
                admitted |= in_namespace_sources(spec, port.port)
            admitted.discard(own)  # replicas of one service talking among themselves
            declared = {caller.selector[NAME] for caller in graph.callers(name)}
            assert admitted == declared, (
                f"{name}:{port.port} admits {admitted}, declared {declared}"
            )
            checked += 1
    assert checked >= 15


def test_every_caller_may_leave_towards_its_callees(stack: Recording) -> None:
    graph = graph_of(stack.stack)
    for caller, callee in graph.pairs():
        target = graph[callee]
        allowed = False
        for spec in policies_for(stack, dict(graph[caller].selector)):
            for rule in spec.get("egress", []):
                ports = {p.get("port") for p in rule.get("ports", [])}
                peers = [p.get("podSelector", {}).get("matchLabels", {}) for p in rule["to"]]
                if target.ports[0].port in ports and dict(target.selector) in peers:
                    allowed = True
        assert allowed, f"{caller} cannot reach {callee}"


def test_mesh_allows_exactly_the_declared_calls(prod: Recording) -> None:
    graph = graph_of("prod")
    allowed: list[tuple[str, str]] = []
    for policy in prod.of_kind("AuthorizationPolicy"):
        spec = policy.manifest()["spec"]
        target = spec.get("selector", {}).get("matchLabels", {}).get(NAME)
        for rule in spec.get("rules", []):
            for source in rule["from"]:
                for principal in source["source"]["principals"]:
                    allowed.append((principal.rsplit("/", 1)[-1], target))
    assert len(allowed) == len(set(allowed)), "a call is allowed by more than one rule"
    opted_out = {"nats", "redis"}
    expected = {
        (graph[caller].service_account, graph[callee].selector[NAME])
        for caller, callee in graph.pairs()
        if callee not in opted_out and not callee.startswith("hft-engine")
    }
    from_callers = {pair for pair in allowed if pair[0] != "istio-ingressgateway"}
    assert from_callers == expected
    public = {target for account, target in allowed if account == "istio-ingressgateway"}
    # The balancer, the monitor UI, the operator gateway and the operator frontend (seed 004).
    assert public == {"nginx", "monitor-ui", "gui-gateway", "operator-ui"}


def test_namespace_is_enrolled_and_restricted(prod: Recording, dev: Recording) -> None:
    labels = prod.get("Namespace", "trading-prod").manifest()["metadata"]["labels"]
    assert labels["istio-injection"] == "enabled"
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    assert (
        "istio-injection"
        not in dev.get("Namespace", "aegis-trader").manifest()["metadata"]["labels"]
    )
    nats = prod.get("StatefulSet", "aegis-trader-nats").manifest()["spec"]["template"]
    assert nats["metadata"]["annotations"]["sidecar.istio.io/inject"] == "false"


def test_graph_identities_are_the_pods_service_accounts(stack: Recording) -> None:
    """Mesh rules name callers by service account: each node's must be what its pods run as."""
    graph = graph_of(stack.stack)
    accounts: dict[str, str] = {}
    for kind in ("Deployment", "StatefulSet", "Job", "CronJob"):
        for registration in stack.of_kind(kind):
            spec = registration.manifest()["spec"]
            template = (
                spec["jobTemplate"]["spec"]["template"] if kind == "CronJob" else spec["template"]
            )
            name = template["metadata"]["labels"][NAME]
            accounts[name] = template["spec"].get("serviceAccountName", "default")
    checked = 0
    for node_name in graph.names:
        node = graph[node_name]
        pod_name = node.selector[NAME]
        if pod_name in accounts:
            assert accounts[pod_name] == node.service_account, node_name
            checked += 1
    assert checked >= 15
