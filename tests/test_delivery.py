"""Delivery: the GitHub workflows, the local-loop scripts (run against fake kubectl / kind /
docker binaries, no cluster), the GitOps render setting, and the docs' generated sections."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tools.offline import Recording, run_stack

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = ROOT / ".github" / "workflows"
SCRIPTS = ROOT / "scripts"
sys.path.insert(0, str(SCRIPTS))
import config_reference  # noqa: E402

STACKS = ["dev", "staging", "prod"]  # seed 004's environments, in promotion order
DEPLOYS = {"deploy-dev.yml": "dev", "deploy-staging.yml": "staging", "deploy-prod.yml": "prod"}


def requirement(name: str, path: Path = ROOT / "requirements.txt") -> str:
    match = re.search(rf"^{re.escape(name)}==(\S+)", path.read_text(), re.MULTILINE)
    assert match, f"{name} is not pinned in {path.name}"
    return match[1]


def workflow(name: str) -> dict[Any, Any]:
    document: dict[Any, Any] = yaml.safe_load((WORKFLOWS / name).read_text())
    # YAML 1.1 reads the key `on` as True.
    document["on"] = document.pop(True, document.get("on"))
    return document


def steps(document: dict[Any, Any], job: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = document["jobs"][job]["steps"]
    return found


def pulumi_step(document: dict[Any, Any], job: str) -> dict[str, Any]:
    """The job's pulumi command (another pulumi/actions step may only install the CLI)."""
    (step,) = [
        s
        for s in steps(document, job)
        if s.get("uses", "").startswith("pulumi/actions@") and "command" in (s.get("with") or {})
    ]
    return step


# --------------------------------------------------------------------------------------------
# GitOps render mode.


def test_render_dir_reaches_the_kubernetes_provider() -> None:
    # A render stack leaves the Helm-installed add-ons to Argo CD.
    overrides = {
        "renderDir": "rendered/gitops-dev",
        "observability": {"install": False},
        "mesh": {"install": False},
    }
    recording = run_stack("dev", overrides)
    assert not [r for r in recording.resources if r.type.startswith("kubernetes:helm.sh/")]
    (provider,) = [r for r in recording.resources if r.type == "pulumi:providers:kubernetes"]
    assert provider.inputs["renderYamlToDirectory"] == "rendered/gitops-dev"
    # Every Kubernetes object goes through that one provider.
    objects = list(recording.kubernetes_objects())
    assert objects and all(r.provider.startswith(provider.urn) for r in objects)


def test_without_render_dir_the_provider_applies(dev: Recording) -> None:
    (provider,) = [r for r in dev.resources if r.type == "pulumi:providers:kubernetes"]
    assert "renderYamlToDirectory" not in provider.inputs


# --------------------------------------------------------------------------------------------
# GitHub workflows.


def test_pull_requests_run_tests_and_preview_every_stack_with_the_policy_pack() -> None:
    pr = workflow("pull-request.yml")
    assert "pull_request" in pr["on"]
    assert any(s.get("run") == "./scripts/test.sh" for s in steps(pr, "test"))
    assert pr["jobs"]["preview"]["needs"] == "test"
    assert pr["jobs"]["preview"]["strategy"]["matrix"]["stack"] == STACKS
    assert all((ROOT / f"Pulumi.{name}.yaml").exists() for name in STACKS)
    # Each stack previews against its own cluster: staging and prod with read-only credentials.
    (kubeconfig,) = [s for s in steps(pr, "preview") if "KUBECONFIG_DATA" in s.get("env", {})]
    chosen = kubeconfig["env"]["KUBECONFIG_DATA"]
    assert "matrix.stack == 'prod' && secrets.PROD_READONLY_KUBECONFIG" in chosen
    assert "matrix.stack == 'staging' && secrets.STAGING_READONLY_KUBECONFIG" in chosen
    step = pulumi_step(pr, "preview")["with"]
    assert step["command"] == "preview"
    assert step["stack-name"] == "${{ matrix.stack }}"
    assert step["policyPacks"] == "policy/"
    assert step["comment-on-pr"] is True
    assert pr["permissions"]["pull-requests"] == "write"


def test_merge_to_main_deploys_dev() -> None:
    dev = workflow("deploy-dev.yml")
    assert dev["on"] == {"push": {"branches": ["main"]}}
    step = pulumi_step(dev, "up")["with"]
    assert (step["command"], step["stack-name"], step["policyPacks"]) == ("up", "dev", "policy/")


def test_production_deploys_only_by_hand_after_approval() -> None:
    prod = workflow("deploy-prod.yml")
    assert list(prod["on"]) == ["workflow_dispatch"]
    job = prod["jobs"]["up"]
    assert job["environment"] == "production"
    assert job["if"] == "github.ref == 'refs/heads/main'"
    step = pulumi_step(prod, "up")["with"]
    assert (step["command"], step["stack-name"], step["policyPacks"]) == ("up", "prod", "policy/")
    assert prod["jobs"]["up"]["env"] == {
        "PULUMI_ACCESS_TOKEN": "${{ secrets.PULUMI_ACCESS_TOKEN }}"
    }


def test_staging_deploys_by_hand_from_main_into_its_environment() -> None:
    staging = workflow("deploy-staging.yml")
    assert list(staging["on"]) == ["workflow_dispatch"]
    assert staging["on"]["workflow_dispatch"]["inputs"]["reason"]["required"] is True
    job = staging["jobs"]["up"]
    assert job["environment"] == "staging"
    assert job["if"] == "github.ref == 'refs/heads/main'"
    assert staging["concurrency"] == {"group": "deploy-staging", "cancel-in-progress": False}
    assert any(s.get("run") == "./scripts/test.sh" for s in steps(staging, "up"))
    (kubeconfig,) = [s for s in steps(staging, "up") if "KUBECONFIG_DATA" in s.get("env", {})]
    assert kubeconfig["env"]["KUBECONFIG_DATA"] == "${{ secrets.STAGING_KUBECONFIG }}"
    step = pulumi_step(staging, "up")["with"]
    assert (step["command"], step["stack-name"], step["policyPacks"]) == (
        "up",
        "staging",
        "policy/",
    )
    assert step["message"] == "${{ inputs.reason }}"


def test_each_stack_is_deployed_by_its_own_workflow_only() -> None:
    # `pulumi up` of a stack happens in that stack's deploy workflow and nowhere else.
    ups: dict[str, list[str]] = {}
    for path in sorted(WORKFLOWS.glob("*.yml")):
        document = workflow(path.name)
        for job in document["jobs"]:
            for step in steps(document, job):
                given = step.get("with") or {}
                if (
                    step.get("uses", "").startswith("pulumi/actions@")
                    and given.get("command") == "up"
                ):
                    ups.setdefault(path.name, []).append(given["stack-name"])
    assert ups == {name: [stack] for name, stack in DEPLOYS.items()}


@pytest.mark.parametrize("name", ["pull-request.yml", *DEPLOYS])
def test_workflows_pin_cli_python_and_actions(name: str) -> None:
    document = workflow(name)
    assert document["env"]["PULUMI_VERSION"] == requirement("pulumi")
    assert document["env"]["PYTHON_VERSION"] == "3.11"
    for job in document["jobs"]:
        for step in steps(document, job):
            uses = step.get("uses")
            if uses:
                assert re.search(r"@v\d+\.\d+\.\d+$", uses), f"{name}: {uses} is not pinned"
            if uses and uses.startswith("pulumi/actions@"):
                assert step["with"]["pulumi-version"] == "${{ env.PULUMI_VERSION }}"
            if uses and uses.startswith("actions/setup-python@"):
                assert step["with"]["python-version"] == "${{ env.PYTHON_VERSION }}"


# --------------------------------------------------------------------------------------------
# Local-loop scripts, against fake binaries.

SCRIPT_NAMES = [
    "up.sh",
    "test.sh",
    "setup-venv.sh",
    "kind-up.sh",
    "load-images.sh",
    "port-forward.sh",
    "adopt-check.sh",
]


@pytest.mark.parametrize("name", SCRIPT_NAMES)
def test_scripts_parse(name: str) -> None:
    path = SCRIPTS / name
    assert path.stat().st_mode & stat.S_IXUSR, f"{name} is not executable"
    subprocess.run(["bash", "-n", str(path)], check=True)


def fake_bin(tmp_path: Path, tools: dict[str, str]) -> dict[str, str]:
    """A PATH whose `tools` are shell scripts logging their arguments to calls.log."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool, body in tools.items():
        path = bin_dir / tool
        path.write_text(
            f'#!/usr/bin/env bash\necho "{tool} $*" >> "{tmp_path}/calls.log"\n{body}\n'
        )
        path.chmod(0o755)
    return {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}


def calls(tmp_path: Path) -> list[str]:
    log = tmp_path / "calls.log"
    return log.read_text().splitlines() if log.exists() else []


def test_port_forward_uses_seed_000_ports_and_dev_service_names(tmp_path: Path) -> None:
    deployed = "aegis-trader-nats aegis-trader-nats-headless aegis-trader-monitor-api "
    deployed += "aegis-trader-monitor-ui"  # no balancer: it is skipped
    kubectl = f"""
if [ "$5" = get ]; then
  for s in {deployed}; do [ "$7" = "$s" ] && exit 0; done
  exit 1
fi
exit 0"""
    env = fake_bin(tmp_path, {"kubectl": kubectl})
    result = subprocess.run(
        ["bash", str(SCRIPTS / "port-forward.sh")], env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    # The forwards run in the background: their log order is not fixed.
    forwards = sorted(c for c in calls(tmp_path) if " port-forward " in c)
    prefix = "kubectl --context kind-aegis-local --namespace aegis-trader port-forward"
    assert forwards == sorted(
        [
            f"{prefix} service/aegis-trader-nats 4222:4222",
            f"{prefix} service/aegis-trader-nats-headless 8222:8222",
            f"{prefix} service/aegis-trader-monitor-api 8100:8100",
            f"{prefix} service/aegis-trader-monitor-ui 3100:3100",
        ]
    )
    assert "skip aegis-trader-nginx: not deployed" in result.stdout


def test_port_forward_includes_the_balancer_when_deployed(tmp_path: Path) -> None:
    env = fake_bin(tmp_path, {"kubectl": "exit 0"})
    subprocess.run(["bash", str(SCRIPTS / "port-forward.sh")], env=env, check=True)
    assert any(c.endswith("service/aegis-trader-nginx 8080:8080") for c in calls(tmp_path))


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


@pytest.fixture
def app_repo(tmp_path: Path) -> Path:
    repo = tmp_path / "app"
    for context in ("monitor-api", "monitor-ui"):
        (repo / context).mkdir(parents=True)
        (repo / context / "Dockerfile").write_text("FROM scratch\n")
    git(repo, "init", "-q")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "app")
    return repo


def test_load_images_tags_by_commit_and_prints_the_config(tmp_path: Path, app_repo: Path) -> None:
    env = fake_bin(tmp_path, {"docker": "exit 0", "kind": "exit 0"})
    result = subprocess.run(
        ["bash", str(SCRIPTS / "load-images.sh"), str(app_repo)],
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    sha = git(app_repo, "rev-parse", "--short", "HEAD")
    assert calls(tmp_path) == [
        f"docker build --tag aegistrader-monitor-api:{sha} {app_repo}/monitor-api",
        f"kind load docker-image aegistrader-monitor-api:{sha} --name aegis-local",
        f"docker build --tag aegistrader-monitor-ui:{sha} {app_repo}/monitor-ui",
        f"kind load docker-image aegistrader-monitor-ui:{sha} --name aegis-local",
    ]
    # One line for the shared tag, not one per image.
    line = f"pulumi config set --stack dev --path --type string ui.images.tag {sha}"
    assert result.stdout.count(line) == 1


def test_load_images_refuses_a_dirty_tree(tmp_path: Path, app_repo: Path) -> None:
    (app_repo / "monitor-api" / "main.py").write_text("print('wip')\n")
    env = fake_bin(tmp_path, {"docker": "exit 0", "kind": "exit 0"})
    result = subprocess.run(
        ["bash", str(SCRIPTS / "load-images.sh"), str(app_repo)],
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2 and "uncommitted changes" in result.stderr
    assert calls(tmp_path) == []


def test_kind_up_creates_the_dev_stacks_cluster_once(tmp_path: Path) -> None:
    # No context yet: kind creates aegis-local from the repository's config.
    env = fake_bin(tmp_path, {"kubectl": "exit 0", "kind": "exit 0"})
    subprocess.run(["bash", str(SCRIPTS / "kind-up.sh")], env=env, check=True, capture_output=True)
    config = SCRIPTS / "kind-config.yaml"
    assert (
        "kind create cluster --name aegis-local --config scripts/kind-config.yaml --wait 120s"
        in calls(tmp_path)
    )
    assert yaml.safe_load(config.read_text())["name"] == "aegis-local"


def test_kind_up_reuses_an_existing_cluster_and_orbstack(tmp_path: Path) -> None:
    kubectl = 'if [ "$2" = get-contexts ]; then echo kind-aegis-local; echo orbstack; fi'
    env = fake_bin(tmp_path, {"kubectl": kubectl, "kind": "exit 1"})
    for argv in ([], ["--context", "orbstack"]):
        result = subprocess.run(
            ["bash", str(SCRIPTS / "kind-up.sh"), *argv], env=env, capture_output=True, text=True
        )
        assert result.returncode == 0, result.stderr
    assert not any(c.startswith("kind ") for c in calls(tmp_path))


# --------------------------------------------------------------------------------------------
# The docs' generated sections.


def test_configuration_reference_is_generated_from_the_settings() -> None:
    reference = config_reference.REFERENCE_DOC.read_text()
    assert config_reference.section(reference) == config_reference.generate(), (
        "docs/configuration.md's reference is stale: "
        ".venv/bin/python scripts/config_reference.py --write"
    )


def test_architecture_diagram_is_generated_from_the_graph(prod: Recording) -> None:
    current = config_reference.section(
        config_reference.ARCHITECTURE_DOC.read_text(),
        config_reference.ARCH_START,
        config_reference.ARCH_END,
    )
    assert current == config_reference.architecture("prod", prod), (
        "docs/architecture.md's diagram is stale: "
        ".venv/bin/python scripts/config_reference.py --write"
    )


def test_configuration_reference_covers_every_top_level_setting() -> None:
    from stacks.settings import PlatformSettings

    text = config_reference.generate()
    for name, field in PlatformSettings.model_fields.items():
        assert f"| `{field.alias or name}" in text, name
    assert "| `adoptExisting` | boolean | `false` | `false` | `false` | `false` |" in text


def test_e2e_workflow_runs_the_shared_script_on_kind_with_the_built_cli_version() -> None:
    from stacks.versions import E2E_TOOLS

    document = workflow("e2e-kind.yml")
    assert document["env"]["PULUMI_VERSION"] == E2E_TOOLS["PULUMI_VERSION"]
    runs = [s for s in steps(document, "dev") if "scripts/e2e.sh" in s.get("run", "")]
    assert len(runs) == 1 and runs[0]["env"]["E2E_CLUSTER"] == "existing"
    kind = next(s for s in steps(document, "dev") if s.get("uses", "").startswith("helm/kind"))
    # Pulumi.dev.yaml's context is kind-<cluster_name>.
    assert f"kind-{kind['with']['cluster_name']}" == "kind-aegis-local"
    for step in steps(document, "dev"):
        if "uses" in step:
            assert re.search(r"@v\d+\.\d+\.\d+$", step["uses"]), step["uses"]
