"""The end-to-end scripts, without their tools: the contracts they keep and the cluster shapes.

The run itself is `scripts/e2e.sh` (docs/testing.md); it needs the tools
scripts/e2e-tools.sh builds, so these tests check what can be checked without them.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from stacks.versions import E2E_TOOLS
from tools.offline import Recording

ROOT = Path(__file__).resolve().parents[1]
CLUSTER = ROOT / "scripts" / "e2e" / "cluster"
sys.path.insert(0, str(ROOT / "scripts" / "e2e"))
import run as e2e_run  # noqa: E402


def script(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        check=False,
    )


def nodes(shape: str) -> list[dict[str, str]]:
    lines = [line for line in (CLUSTER / f"nodes-{shape}.tsv").read_text().splitlines()]
    rows = csv.reader((line for line in lines if not line.startswith("#")), delimiter="\t")
    return [
        dict(zip(("name", "zone", "cpu", "memory", "disktype"), row, strict=True)) for row in rows
    ]


def test_versions_print_every_e2e_pin_for_the_shell() -> None:
    out = subprocess.run(
        [sys.executable, "stacks/versions.py"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    assert dict(line.split("=", 1) for line in out.splitlines()) == E2E_TOOLS


def test_tool_check_names_what_is_missing_from_an_empty_cache(tmp_path: Path) -> None:
    checked = script("scripts/e2e-tools.sh", "--check", env={"E2E_CACHE": str(tmp_path)})
    assert checked.returncode == 1
    for family in ("pulumi-v", "pulumi-resource-kubernetes-v", "kube-v", "etcd-v", "kwok-v"):
        assert f"missing: {tmp_path}/bin/{family}" in checked.stdout
    exports = script("scripts/e2e-tools.sh", "--env", env={"E2E_CACHE": str(tmp_path)}).stdout
    assert f"KUBE_DIR='{tmp_path}/bin/kube-v{E2E_TOOLS['KUBERNETES_VERSION']}'" in exports
    assert f"PULUMI_DIR='{tmp_path}/bin/pulumi-v{E2E_TOOLS['PULUMI_VERSION']}'" in exports


def test_e2e_refuses_to_start_without_its_tools(tmp_path: Path) -> None:
    ran = script("scripts/e2e.sh", "dev", env={"E2E_CACHE": str(tmp_path)})
    assert ran.returncode == 1
    assert "run scripts/e2e-tools.sh" in ran.stderr


@pytest.mark.parametrize("args", [[], ["up"], ["up", "qa"], ["start", "dev"]])
def test_control_plane_rejects_bad_arguments(args: list[str]) -> None:
    ran = script("scripts/control-plane.sh", *args)
    assert ran.returncode == 2 and "usage" in ran.stderr


def test_dev_node_is_the_kind_node_the_local_profile_is_sized_for() -> None:
    # DESIGN: `local` fits one 4-CPU / 16-GiB node.
    assert [(n["cpu"], n["memory"]) for n in nodes("dev")] == [("4", "16Gi")]


def test_prod_nodes_satisfy_the_production_scheduling_rules(prod: Recording) -> None:
    prod_nodes = nodes("prod")
    redis = next(
        r for r in prod.resources if r.kind == "StatefulSet" and r.name == "data-stores-redis"
    )
    spec: dict[str, Any] = redis.manifest()["spec"]
    required = spec["template"]["spec"]["affinity"]["podAntiAffinity"][
        "requiredDuringSchedulingIgnoredDuringExecution"
    ]
    # Seed 004's Redis cluster (3 masters + 3 replicas) allows one pod per host.
    assert required[0]["topologyKey"] == "kubernetes.io/hostname"
    assert len(prod_nodes) >= spec["replicas"] == 6
    assert len({n["zone"] for n in prod_nodes}) == 3
    assert sum(n["disktype"] == "ssd" for n in prod_nodes) >= spec["replicas"]


def test_each_stack_gets_the_kube_context_its_stack_file_names(tmp_path: Path) -> None:
    for stack in ("dev", "staging", "prod"):
        config = yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())["config"]
        printed = script(
            "scripts/control-plane.sh", "env", stack, env={"E2E_STATE": str(tmp_path)}
        ).stdout.splitlines()
        assert printed == [
            f"export KUBECONFIG='{tmp_path}/{stack}/kubeconfig'",
            f"# context: {config['trading-platform:kubeContext']}",
        ]


def test_run_spots_replacements() -> None:
    steps = [
        {"op": "update", "urn": "urn:pulumi:dev::p::kubernetes:apps/v1:Deployment::a"},
        {"op": "replace", "urn": "urn:pulumi:dev::p::kubernetes:apps/v1:StatefulSet::b"},
        {"op": "create-replacement", "urn": "urn:pulumi:dev::p::kubernetes:apps/v1:Job::c"},
    ]
    assert e2e_run.replaced({"steps": steps}) == ["replace b", "create-replacement c"]


def test_routine_changes_are_valid_settings_of_each_stack() -> None:
    from stacks.config import deep_merge, load_settings, project_values

    for stack, change in e2e_run.ROUTINE_CHANGE.items():
        config = yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())["config"]
        for key, value in {**e2e_run.E2E_SETTINGS[stack], **change}.items():
            name = f"trading-platform:{key}"
            config[name] = deep_merge(config.get(name) or {}, value)
        load_settings(project_values({k: v for k, v in config.items()}))


def test_a_protection_refusal_is_found_in_the_whole_output_not_only_its_tail() -> None:
    """The e2e saw the refusal followed by more than the kept tail of output (the engine shutting
    the program down): the refusal must be read from everything the engine printed."""
    refusal = (
        '    error: unable to replace resource "urn:pulumi:prod::p::StatefulSet::message-bus"\n'
        "    as it is currently marked for protection. To unprotect the resource, remove it\n"
    )
    output = (
        "  ~ update\n" + refusal + "    error: Resource monitor has terminated\n" + "x\n" * 5000
    )
    found = e2e_run.protection_refusal(output)
    assert found is not None and found.startswith("error: unable to replace resource")
    assert "marked for protection" in found
    deleted = (
        '    error: resource "urn:...::ConfigMap::release" cannot be deleted\n'
        "    because it is protected. To unprotect the resource, either remove the flag\n"
    )
    assert "because it is protected" in (e2e_run.protection_refusal(deleted) or "")
    assert e2e_run.protection_refusal("    error: update failed\n" + "x\n" * 10) is None
