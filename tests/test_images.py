"""Application images: one registry and tag per stack that every application tier uses unless it
overrides them; production pulls them from a registry (seed 001's
ghcr.io/dicky1987/eafix-modular/<service>:<tag>), never from Docker Hub by bare name; every
deploy workflow tags them with the commit it deploys (seed 000: git SHA tags, not timestamps)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.helpers import assert_rejected
from tools.offline import Recording, run_stack, stack_config

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = ROOT / ".github" / "workflows"
SHA = "3f9c2a7e5b1d4c6e8f0a2b4c6d8e0f1a3b5c7d9e"  # what ${{ github.sha }} looks like

# Seed 001's registry and its ten trading services.
SEED_001_REGISTRY = "ghcr.io/dicky1987/eafix-modular"
SEED_001_SERVICES = (
    "data-ingestor",
    "indicator-engine",
    "signal-generator",
    "risk-manager",
    "execution-engine",
    "calendar-ingestor",
    "reentry-matrix-svc",
    "reporter",
    "gui-gateway",
    "compliance-monitor",
)
# The platform's own images besides them: seed 000's monitor, seed 002's engine and backend,
# seed 004's operator frontend (production only).
OWN = ("aegistrader-monitor-api", "aegistrader-monitor-ui", "hft-engine", "hft-backend")
# Upstream images the platform runs as they are published (pinned, not application images).
THIRD_PARTY_REPOSITORIES = {
    "nats",
    "natsio/nats-box",
    "natsio/prometheus-nats-exporter",
    "busybox",
    "postgres",
    "timescale/timescaledb",
    "quay.io/prometheuscommunity/postgres-exporter",
    "redis",
    "oliver006/redis_exporter",
    "nginxinc/nginx-unprivileged",
}


def images(recording: Recording) -> set[str]:
    """Every container and init-container image of the stack's own workloads."""
    found = set()
    for registration in recording.kubernetes_objects():
        body = registration.manifest()
        spec = (body.get("spec") or {}).get("template", {}).get("spec") or {}
        if body["kind"] == "CronJob":
            spec = body["spec"]["jobTemplate"]["spec"]["template"]["spec"]
        for c in [*spec.get("containers", []), *spec.get("initContainers", [])]:
            found.add(c["image"])
    return found


def repository(image: str) -> str:
    return image.rsplit(":", 1)[0]


def registry_of(stack: str) -> str:
    configured = stack_config(stack).get("trading-platform:images") or {}
    return str(configured.get("registry", ""))


# --------------------------------------------------------------------------------------------
# One registry and tag per stack reach every application image.


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_the_deployed_commit_tags_every_application_image(stack: str) -> None:
    recording = run_stack(stack, {"images": {"tag": SHA}})
    registry = registry_of(stack)
    prefix = f"{registry}/" if registry else ""
    application = {i for i in images(recording) if repository(i) not in THIRD_PARTY_REPOSITORIES}
    expected = {*OWN, *SEED_001_SERVICES}
    if stack != "dev":
        expected.add("aegistrader-operator-ui")
    assert application == {f"{prefix}{name}:{SHA}" for name in expected}
    # Third-party images keep their pinned upstream tags.
    assert all(not i.endswith(f":{SHA}") for i in images(recording) - application)


def test_production_pulls_the_trading_services_from_seed_001s_registry(prod: Recording) -> None:
    for service in SEED_001_SERVICES:
        deployment = prod.get("Deployment", f"aegis-trader-{service}").manifest()
        (main,) = [
            c for c in deployment["spec"]["template"]["spec"]["containers"] if c["name"] == service
        ]
        assert repository(main["image"]) == f"{SEED_001_REGISTRY}/{service}"
        assert main["imagePullPolicy"] == "Always"


def test_dev_keeps_images_loaded_into_kind(dev: Recording) -> None:
    application = {i for i in images(dev) if repository(i) not in THIRD_PARTY_REPOSITORIES}
    assert application and all("/" not in i for i in application)  # bare names, no registry
    assert registry_of("dev") == ""


def test_a_tier_overrides_the_stack_registry_or_tag() -> None:
    recording = run_stack(
        "dev",
        {
            "images": {"registry": "registry.local:5000/aegis", "tag": "abc1234"},
            # Seed 000's monitor images, still loaded into kind under their timestamp tag (a
            # timestamp is a valid tag, only not what the deploy workflows set).
            "ui": {"images": {"registry": "", "tag": "20250803-151359"}},
            "engine": {"image": "registry.local:5000/lab/hft-engine:exp-1"},
        },
    )
    found = images(recording)
    assert "aegistrader-monitor-api:20250803-151359" in found
    assert "registry.local:5000/lab/hft-engine:exp-1" in found
    assert "registry.local:5000/aegis/hft-backend:abc1234" in found
    assert "registry.local:5000/aegis/risk-manager:abc1234" in found


# --------------------------------------------------------------------------------------------
# Bad values fail before any resource, naming the key.

BAD: list[tuple[dict[str, Any], str, str, str, str]] = [
    ({"images": {"registry": "Not A"}}, "images.registry", "Not A", "e.g.", "dev"),
    # A first component without '.' or ':' is a Docker Hub namespace, not a registry.
    ({"images": {"registry": "eafix-modular"}}, "images.registry", "eafix-modular", "host", "dev"),
    ({"images": {"tag": "latest"}}, "images.tag", "latest", "pin a version", "dev"),
    ({"images": {"tag": "v1 beta"}}, "images.tag", "v1 beta", "letters, digits", "dev"),
    ({"images": {"mirror": "x.io"}}, "images.mirror", "x.io", "registry, tag", "dev"),
    ({"ui": {"images": {"tag": "latest"}}}, "ui.images.tag", "latest", "pin a version", "dev"),
    (
        {"tradingServices": {"images": {"registry": "ghcr.io/Upper"}}},
        "tradingServices.images.registry",
        "ghcr.io/Upper",
        "e.g.",
        "dev",
    ),
    # Production: never an application image from Docker Hub by bare name.
    ({"images": {"registry": ""}}, "images.registry", "''", "from a registry", "prod"),
    ({"ui": {"images": {"registry": ""}}}, "ui.images.registry", "''", "from a registry", "prod"),
    (
        {"engine": {"image": "hft-engine:0.1.1"}},
        "engine.image",
        "hft-engine:0.1.1",
        "start with the registry host",
        "staging",
    ),
    (
        {"api": {"backend": {"image": "someone/hft-backend:1.0"}}},
        "api.backend.image",
        "someone/hft-backend:1.0",
        "start with the registry host",
        "prod",
    ),
]


@pytest.mark.parametrize(
    ("overrides", "key", "value", "allowed", "stack"), BAD, ids=[f"{b[4]}-{b[1]}" for b in BAD]
)
def test_bad_image_settings_fail_naming_the_key(
    overrides: dict[str, Any], key: str, value: str, allowed: str, stack: str
) -> None:
    assert_rejected(overrides, key, value, allowed, stack)


# --------------------------------------------------------------------------------------------
# The deploy workflows set the tag to the commit they deploy.


def workflow(path: Path) -> dict[Any, Any]:
    document: dict[Any, Any] = yaml.safe_load(path.read_text())
    document["on"] = document.pop(True, document.get("on"))
    return document


def command_line(run: str) -> list[str]:
    """A `run:` line split as the shell would, `${{ ... }}` expressions kept whole."""
    expressions = re.findall(r"\$\{\{.*?\}\}", run)
    for n, expression in enumerate(expressions):
        run = run.replace(expression, f"EXPRESSION{n}", 1)
    argv = shlex.split(run)
    for n, expression in enumerate(expressions):
        argv = [a.replace(f"EXPRESSION{n}", expression) for a in argv]
    return argv


def tag_steps(path: Path) -> list[tuple[str, str, str]]:
    """(stack, commit expression, pulumi command) for each pulumi up/preview of the workflow,
    checking that the image tag is set to the commit before it."""
    document = workflow(path)
    found = []
    for job in document["jobs"].values():
        steps = job["steps"]
        installed = False
        tagged: dict[str, str] = {}
        for step in steps:
            uses, given = step.get("uses", ""), step.get("with") or {}
            if uses.startswith("pulumi/actions@") and "command" not in given:
                installed = True  # the CLI, for the config step
            elif "pulumi config set" in step.get("run", ""):
                assert installed, f"{path.name}: `pulumi config set` before the CLI is installed"
                argv = command_line(step["run"])
                stack = argv[argv.index("--stack") + 1]
                assert argv[:3] == ["pulumi", "config", "set"] and argv[-2:] == [
                    "images.tag",
                    "$COMMIT",
                ], step["run"]
                # --path: the nested key; --type string: a short SHA of digits stays a tag.
                assert {"--path", "--type"} <= set(argv) and argv[argv.index("--type") + 1] == (
                    "string"
                )
                tagged[stack] = step["env"]["COMMIT"]
            elif uses.startswith("pulumi/actions@"):
                stack = given["stack-name"]
                assert stack in tagged, f"{path.name}: {given['command']} {stack} without a tag"
                found.append((stack, tagged[stack], given["command"]))
    return found


@pytest.mark.parametrize("path", sorted(WORKFLOWS.glob("deploy-*.yml")), ids=lambda p: p.name)
def test_every_deploy_workflow_tags_the_images_with_its_commit(path: Path) -> None:
    ups = tag_steps(path)
    assert ups, f"{path.name} deploys nothing"
    for stack, commit, command in ups:
        assert command == "up"
        assert commit == "${{ github.sha }}"  # the commit checked out and deployed
        assert (ROOT / f"Pulumi.{stack}.yaml").exists()


def test_previews_use_the_pull_requests_commit() -> None:
    ((stack, commit, command),) = tag_steps(WORKFLOWS / "pull-request.yml")
    assert (stack, command) == ("${{ matrix.stack }}", "preview")
    assert commit == "${{ github.event.pull_request.head.sha }}"


def test_no_stack_file_pins_a_tier_tag_that_would_hide_the_commit() -> None:
    # A tier's own tag wins over images.tag; no deployed stack sets one.
    for stack in ("dev", "staging", "prod"):
        config = stack_config(stack)
        for key in ("ui", "tradingServices"):
            assert "tag" not in ((config.get(f"trading-platform:{key}") or {}).get("images") or {})
        assert "image" not in (config.get("trading-platform:engine") or {})
        assert "image" not in ((config.get("trading-platform:api") or {}).get("backend") or {})
