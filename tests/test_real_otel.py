"""The collector configurations (gateway and log agent) of both stacks, validated by a real
collector at the pinned collector version (scripts/otelcol-build.sh builds it with the
OpenTelemetry Collector Builder from Go modules).

Substituted to validate outside the chart: the chart merges our `config` into its own defaults
and presets, so the components a pipeline names that only the chart defines (the agent's `otlp`
receiver, the log preset's file receiver) are added here with the settings the chart gives them;
`${env:...}` references get placeholder values. The elasticsearch exporter is not in the build
(the Go proxy here refuses its source and its ebpf-profiler dependency): a pipeline's
`elasticsearch` exporter is validated as `debug`, so its own settings are not checked here.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tools.offline import Recording, unwrap

ROOT = Path(__file__).resolve().parents[1]
BINARY = Path(
    subprocess.run(
        ["bash", str(ROOT / "scripts" / "otelcol-build.sh"), "--path"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
)
pytestmark = [
    pytest.mark.real,
    pytest.mark.skipif(
        not BINARY.exists(), reason="otelcol-aegis not built: run scripts/otelcol-build.sh"
    ),
]
# What the chart defines for components our pipelines name without defining them.
CHART_DEFINED: dict[str, dict[str, Any]] = {
    "receivers": {
        "otlp": {"protocols": {"grpc": {"endpoint": "127.0.0.1:4317"}, "http": {}}},
        "file_log": {"include": ["/var/log/pods/*/*/*.log"], "start_at": "end"},
        "filelog": {"include": ["/var/log/pods/*/*/*.log"], "start_at": "end"},
    },
    "processors": {"batch": {}, "memory_limiter": {"check_interval": "5s", "limit_percentage": 80}},
    "exporters": {"debug": {}},
}


def collector_configs(recording: Recording) -> dict[str, dict[str, Any]]:
    configs = {}
    for r in recording.resources:
        if r.type == "kubernetes:helm.sh/v3:Release" and "otel" in r.name:
            values = unwrap(r.inputs["values"])
            configs[r.name] = values["config"]
    return configs


NOT_BUILT = {"exporters": {"elasticsearch": "debug/elasticsearch"}}


def completed(config: dict[str, Any]) -> dict[str, Any]:
    config = yaml.safe_load(yaml.safe_dump(config))  # a copy
    for section, renames in NOT_BUILT.items():
        for name, stand_in in renames.items():
            if (config.get(section) or {}).pop(name, None) is not None:
                config[section][stand_in] = {}
                for pipeline in config["service"]["pipelines"].values():
                    pipeline[section] = [stand_in if n == name else n for n in pipeline[section]]
    full = {section: dict(config.get(section) or {}) for section in CHART_DEFINED}
    full["service"] = config["service"]
    for section, defined in CHART_DEFINED.items():
        for pipeline in config["service"]["pipelines"].values():
            for name in pipeline.get(section, []):
                if name not in full[section] and name in defined:
                    full[section][name] = defined[name]
    for key in ("extensions", "connectors"):
        if key in config:
            full[key] = config[key]
    return full


def test_every_stack_has_a_gateway_and_a_log_agent(stack: Recording) -> None:
    names = set(collector_configs(stack))
    assert {"observability-otel-collector", "observability-otel-agent"} <= names


@pytest.mark.parametrize("release", ["observability-otel-collector", "observability-otel-agent"])
def test_the_real_collector_validates_the_configuration(
    stack: Recording, release: str, tmp_path: Path
) -> None:
    config = completed(collector_configs(stack)[release])
    path = tmp_path / "config.yaml"
    text = yaml.safe_dump(config, sort_keys=False)
    path.write_text(text)
    env = {name: "placeholder" for name in re.findall(r"\$\{env:(\w+)\}", text)}
    env |= {"MY_POD_IP": "127.0.0.1", "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [str(BINARY), "validate", f"--config=file:{path}"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, f"{release} ({stack.stack}): {result.stderr}\n{text}"


def test_the_collector_refuses_an_unknown_component(tmp_path: Path) -> None:
    # The check can fail: a component the build does not have is an error.
    path = tmp_path / "config.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "receivers": {"no_such_receiver": {}},
                "exporters": {"debug": {}},
                "service": {
                    "pipelines": {
                        "logs": {"receivers": ["no_such_receiver"], "exporters": ["debug"]}
                    }
                },
            }
        )
    )
    result = subprocess.run(
        [str(BINARY), "validate", f"--config=file:{path}"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0 and "no_such_receiver" in result.stderr
