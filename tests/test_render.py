"""The offline render: one file per object grouped by tier, secrets redacted, a summary, and a
non-zero exit when a local stack asks for more than its node budget."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from tools import render
from tools.offline import REDACTED, Recording
from tools.summary import Totals, totals


def test_render_writes_every_object_by_tier_with_secrets_redacted(
    prod: Recording, tmp_path: Path
) -> None:
    written = render.write(prod, tmp_path)
    objects = list(prod.kubernetes_objects())
    releases = [r for r in prod.resources if r.type.startswith("kubernetes:helm.sh/")]
    assert written == len(objects) + len(releases)
    assert {p.parent.name for p in tmp_path.rglob("*.yaml")} >= {"message-bus", "data-stores"}
    nats = yaml.safe_load(
        (tmp_path / "message-bus" / "statefulset-aegis-trader-nats.yaml").read_text()
    )
    assert nats["apiVersion"] == "apps/v1" and nats["spec"]["replicas"] == 3
    secret = yaml.safe_load(
        (tmp_path / "message-bus" / "secret-aegis-trader-nats-auth.yaml").read_text()
    )
    assert secret["stringData"] == {"password": REDACTED, "user": REDACTED, "auth.conf": REDACTED}
    assert "offline-" not in "".join(p.read_text() for p in tmp_path.rglob("*.yaml"))


def test_summary_counts_replicas_and_storage(dev: Recording) -> None:
    result = totals(dev)
    # Three NATS pods at 100m plus their exporters, at least: replicas are multiplied in.
    assert result.cpu_requests >= Decimal("0.33")
    assert result.storage >= 3 * 2**30  # three 1Gi JetStream claims
    assert result.objects_per_tier["message-bus"] > 0


def test_dev_fits_its_node_budget_and_the_cli_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert render.main(["--stack", "dev", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "requests: cpu" in out and "persistent storage" in out


def test_exceeding_the_node_budget_is_an_error() -> None:
    heavy = Totals(cpu_requests=Decimal("3"), memory_requests=7 * 2**30)
    problems = render.over_budget("dev", heavy)
    assert len(problems) == 2
    assert "exceed the node budget 2.5" in problems[0]
    assert render.over_budget("prod", heavy) == []  # production sets no node budget


def test_bad_config_exits_2(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from stacks.errors import ConfigError

    def broken(stack: str) -> Recording:
        raise ConfigError("release", "Bad_Name", "must be a DNS-1123 label")

    monkeypatch.setattr(render, "run_stack", broken)
    assert render.main(["--stack", "dev", "--out", str(tmp_path)]) == 2
