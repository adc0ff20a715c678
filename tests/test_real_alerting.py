"""Alertmanager's configuration and the metrics adapter's PromQL through the real programs
(issue 16): `amtool check-config` on each stack's Alertmanager config, `amtool config routes
test` on who is notified of each severity, and every prometheus-adapter rule's query, with the
adapter's template placeholders filled in as it fills them, parsed by promtool.

Substituted: amtool here is Debian's 0.25; the chart runs Alertmanager v0.34. A `webhook`
receiver's `url_file` is newer than 0.25, so the checked stacks use PagerDuty and Slack only.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.real.pod import program
from tools.offline import Recording, unwrap

pytestmark = pytest.mark.real

STACK_RELEASE = "aegis-trader-monitoring"
ADAPTER = "aegis-trader-metrics-adapter"


def chart_values(recording: Recording, helm_name: str) -> dict[str, Any]:
    (release,) = [
        r
        for r in recording.resources
        if r.type.startswith("kubernetes:helm.sh/") and r.inputs["name"] == helm_name
    ]
    return dict(unwrap(release.inputs["values"]))


def write_config(recording: Recording, tmp_path: Path) -> Path:
    config = chart_values(recording, STACK_RELEASE)["alertmanager"]["config"]
    path = tmp_path / "alertmanager.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_alertmanager_config_passes_amtool(stack: Recording, tmp_path: Path) -> None:
    path = write_config(stack, tmp_path)
    done = subprocess.run(
        [program("amtool"), "check-config", str(path)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize(
    ("labels", "receivers"),
    [
        (["severity=critical", "alertname=PostgresDown"], "oncall-pagerduty,trading-slack"),
        (["severity=warning", "alertname=VolumeAlmostFull"], "trading-slack"),
        (["severity=info", "alertname=Anything"], "null"),
        (["severity=none", "alertname=Watchdog"], "null"),
    ],
)
def test_production_routes_each_severity(
    prod: Recording, tmp_path: Path, labels: list[str], receivers: str
) -> None:
    path = write_config(prod, tmp_path)
    argv = [program("amtool"), "config", "routes", "test", f"--config.file={path}", *labels]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == receivers, done.stdout + done.stderr


def adapter_queries(recording: Recording) -> list[str]:
    """Each rule's metricsQuery as the adapter runs it: series, label matchers of a namespace
    and two pods (or the namespace alone for external metrics), grouped by the resource labels."""
    rules = chart_values(recording, ADAPTER)["rules"]
    queries = []
    for api in ("custom", "external"):
        for rule in rules[api]:
            labels = list(rule["resources"]["overrides"])
            series = rule["seriesQuery"].split("{", 1)[0]
            matchers = ",".join(f'{label}=~"trading-prod|backend-1|backend-2"' for label in labels)
            query = (
                rule["metricsQuery"]
                .replace("<<.Series>>", series)
                .replace("<<.LabelMatchers>>", matchers)
                .replace("<<.GroupBy>>", ",".join(labels))
            )
            queries.append(query)
    return queries


def test_adapter_rules_parse(prod: Recording, tmp_path: Path) -> None:
    queries = adapter_queries(prod)
    assert len(queries) == 2
    path = tmp_path / "adapter.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "groups": [
                    {
                        "name": "adapter",
                        "rules": [
                            {"record": f"adapter:query{i}", "expr": q}
                            for i, q in enumerate(queries)
                        ],
                    }
                ]
            }
        )
    )
    done = subprocess.run(
        [program("promtool"), "check", "rules", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
