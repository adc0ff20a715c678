"""PromQL through a real Prometheus parser: `promtool check rules` on each stack's
PrometheusRule, and every dashboard query (panels and template variables) of each stack's
dashboard ConfigMaps parsed by the same promtool as a recording rule (issue 14).

Grafana substitutes its variables before Prometheus sees a query; so does this test: `$__*`
intervals become `5m`, the dashboards' own variables a plain value. `label_values(m, label)` is
Grafana's, not PromQL: its selector `m` is what is parsed.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.real.pod import output, program, version
from tools.offline import Recording

pytestmark = pytest.mark.real

GRAFANA_INTERVALS = re.compile(
    r"\$__(rate_interval|interval|range)\b|\$\{__(rate_interval|interval|range)\}"
)
LABEL_VALUES = re.compile(r"^\s*label_values\((?P<selector>.*),\s*[\w.]+\s*\)\s*$", re.DOTALL)


def promtool() -> str:
    return program("promtool")


def check_rules(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [promtool(), "check", "rules", str(path)], capture_output=True, text=True, timeout=60
    )


def test_promtool_is_a_prometheus_2_or_newer() -> None:
    # Debian 12's promtool 2.42; kube-prometheus-stack runs Prometheus 3 (see the report).
    assert version(output([promtool(), "--version"])) >= (2, 42)


def test_prometheus_rule_passes_promtool(stack: Recording, tmp_path: Path) -> None:
    (rule,) = stack.of_kind("PrometheusRule")
    groups = rule.manifest()["spec"]["groups"]
    assert sum(len(g["rules"]) for g in groups) >= 10
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump({"groups": groups}, sort_keys=False))
    done = check_rules(path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def panels(items: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in items:
        yield panel
        yield from panels(panel.get("panels", []))


def dashboard_queries(recording: Recording) -> Iterator[tuple[str, str]]:
    """(where, PromQL) for every Prometheus query of every dashboard ConfigMap."""
    found = 0
    for config_map in recording.of_kind("ConfigMap"):
        for key, text in (config_map.manifest().get("data") or {}).items():
            if not key.endswith(".json"):
                continue
            found += 1
            body = json.loads(text)
            variables = [v["name"] for v in body.get("templating", {}).get("list", [])]
            for variable in body.get("templating", {}).get("list", []):
                query = variable.get("query")
                if variable.get("type") == "query":
                    text_query = query["query"] if isinstance(query, dict) else query
                    match = LABEL_VALUES.match(text_query)
                    selector = match["selector"] if match else text_query
                    yield f"{key} variable {variable['name']}", grafana(selector, variables)
            for panel in panels(body.get("panels", [])):
                for target in panel.get("targets", []):
                    if "expr" in target:
                        where = f"{key} panel {panel.get('title')!r} {target.get('refId', '')}"
                        yield where, grafana(target["expr"], variables)
    assert found >= 5, f"{recording.stack}: {found} dashboards"


def grafana(expr: str, variables: list[str]) -> str:
    """The query as Grafana sends it: its variables interpolated."""
    expr = GRAFANA_INTERVALS.sub("5m", expr)
    for name in sorted(variables, key=len, reverse=True):
        expr = re.sub(rf"\$\{{{name}(:\w+)?\}}|\${name}\b", "value", expr)
    return expr


def test_every_dashboard_query_parses(stack: Recording, tmp_path: Path) -> None:
    queries = list(dashboard_queries(stack))
    assert len(queries) >= 50
    # One group per query, so promtool's error names the panel.
    groups = [
        {"name": where, "rules": [{"record": f"dashboard:query_{i}", "expr": expr}]}
        for i, (where, expr) in enumerate(queries)
    ]
    path = tmp_path / "dashboards.yaml"
    path.write_text(yaml.safe_dump({"groups": groups}, sort_keys=False))
    done = check_rules(path)
    assert done.returncode == 0, done.stdout + done.stderr


def test_promtool_rejects_a_selector_after_a_function_call(tmp_path: Path) -> None:
    """The form of issue 14's broken panels, so the check above has teeth."""
    expr = 'label_replace(up, "job", "$1", "instance", "(.*)"){job=~"api"}'
    path = tmp_path / "broken.yaml"
    path.write_text(
        yaml.safe_dump({"groups": [{"name": "g", "rules": [{"record": "broken", "expr": expr}]}]})
    )
    done = check_rules(path)
    assert done.returncode != 0
    assert "parse error" in done.stdout + done.stderr
