"""The CrossGuard policy pack: each rule on a compliant and a violating example, the recorded
dev, staging and prod graphs pass every mandatory rule, and a violating stack fails with the
policy's name, the resource and the fix, both through the offline checker and the pack's own
wiring."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest
from pulumi_policy import (
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import unknown_checking_proxy

from policy import check, pack, rules
from policy.rules import Resource, Settings
from tools.offline import Recording, run_stack

ROOT = Path(__file__).resolve().parent.parent
NS = "aegis-trader"
SELECTOR = {"app.kubernetes.io/name": "api", "app.kubernetes.io/instance": "aegis-trader"}
LABELS = {
    **SELECTOR,
    "app.kubernetes.io/version": "0.1.0",
    "app.kubernetes.io/component": "api",
    "app.kubernetes.io/part-of": "trading-platform",
    "app.kubernetes.io/managed-by": "pulumi",
}
LOCAL = Settings("local")
PRODUCTION = Settings("production")

# --------------------------------------------------------------------------------------------
# Compliant building blocks; each violating example changes one thing.


def container(name: str = "api", **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": name,
        "image": "hft-backend:0.1.0",
        "resources": {
            "requests": {"cpu": "100m", "memory": "128Mi"},
            "limits": {"cpu": "500m", "memory": "256Mi"},
        },
        "securityContext": {
            "runAsNonRoot": True,
            "readOnlyRootFilesystem": True,
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
        },
        "livenessProbe": {"httpGet": {"path": "/healthz", "port": "http"}},
        "readinessProbe": {"httpGet": {"path": "/ready", "port": "http"}},
        "env": [
            {"name": "LOG_LEVEL", "value": "info"},
            {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "pw"}}},
        ],
    }
    body.update(changes)
    return body


def k8s(token: str, name: str, spec: dict[str, Any] | None = None, **extra: Any) -> Resource:
    props: dict[str, Any] = {
        "metadata": {"name": name, "namespace": NS, "labels": dict(LABELS)},
        **extra,
    }
    if spec is not None:
        props["spec"] = spec
    kind = token.rsplit(":", 1)[-1]
    urn = f"urn:pulumi:dev::trading-platform::trading:api:Api${token}::{name}-{kind.lower()}"
    return Resource(type=token, props=props, urn=urn, name=name)


def deployment(
    name: str = "aegis-trader-api",
    replicas: int = 1,
    containers: list[dict[str, Any]] | None = None,
    init: list[dict[str, Any]] | None = None,
    **meta: Any,
) -> Resource:
    pod: dict[str, Any] = {
        "securityContext": {"runAsNonRoot": True, "runAsUser": 10001},
        "containers": containers if containers is not None else [container()],
    }
    if init is not None:
        pod["initContainers"] = init
    resource = k8s(
        "kubernetes:apps/v1:Deployment",
        name,
        {
            "replicas": replicas,
            "selector": {"matchLabels": dict(SELECTOR)},
            "template": {"metadata": {"labels": dict(SELECTOR)}, "spec": pod},
        },
    )
    resource.props["metadata"].update(meta)
    return resource


def statefulset(claims: bool = True, protect: bool = True, retention: str = "Retain") -> Resource:
    base = deployment("aegis-trader-nats", replicas=1)
    spec = dict(base.props["spec"], serviceName="aegis-trader-nats-headless")
    if claims:
        spec["volumeClaimTemplates"] = [
            {"metadata": {"name": "data"}, "spec": {"resources": {"requests": {"storage": "1Gi"}}}}
        ]
        spec["persistentVolumeClaimRetentionPolicy"] = {
            "whenDeleted": retention,
            "whenScaled": "Retain",
        }
    resource = k8s("kubernetes:apps/v1:StatefulSet", "aegis-trader-nats", spec)
    return Resource(resource.type, resource.props, resource.urn, resource.name, protect=protect)


def pdb(selector: dict[str, str] | None = None, namespace: str = NS) -> Resource:
    resource = k8s(
        "kubernetes:policy/v1:PodDisruptionBudget",
        "aegis-trader-api",
        {"maxUnavailable": 1, "selector": {"matchLabels": selector or dict(SELECTOR)}},
    )
    resource.props["metadata"]["namespace"] = namespace
    return resource


def hpa(target: str = "aegis-trader-api", min_replicas: int = 2) -> Resource:
    return k8s(
        "kubernetes:autoscaling/v2:HorizontalPodAutoscaler",
        target,
        {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
            "minReplicas": min_replicas,
            "maxReplicas": 10,
        },
    )


def service(kind: str = "ClusterIP", selector: dict[str, str] | None = None) -> Resource:
    return k8s(
        "kubernetes:core/v1:Service",
        "aegis-trader-api",
        {
            "type": kind,
            "selector": selector or dict(SELECTOR),
            "ports": [{"name": "http", "port": 8000, "targetPort": "http"}],
        },
    )


def config_map(data: dict[str, str]) -> Resource:
    return k8s("kubernetes:core/v1:ConfigMap", "aegis-trader-api", None, data=data)


def pvc(protect: bool) -> Resource:
    resource = k8s(
        "kubernetes:core/v1:PersistentVolumeClaim",
        "aegis-trader-backups",
        {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "5Gi"}}},
    )
    return Resource(resource.type, resource.props, resource.urn, resource.name, protect=protect)


def with_container(**changes: Any) -> Resource:
    return deployment(containers=[container(**changes)])


def scalable(with_hpa: bool) -> list[Resource]:
    marked = deployment(replicas=2)
    marked.props["metadata"]["labels"][rules.SCALABLE_MARKER] = "true"
    return [marked, pdb(), *([hpa()] if with_hpa else [])]


# --------------------------------------------------------------------------------------------
# One compliant and at least one violating example per rule.

Input = Resource | list[Resource]
CASES: dict[str, tuple[Input, Settings, list[tuple[Input, Settings, str]]]] = {
    "container-resources": (
        deployment(init=[container("wait-for-nats")]),
        LOCAL,
        [
            (with_container(resources={"limits": {"memory": "1Gi"}}), LOCAL, "requests.cpu"),
            (
                deployment(
                    init=[container("wait", resources={"requests": {"cpu": "1", "memory": "1Gi"}})]
                ),
                LOCAL,
                "init container 'wait' sets no resources.limits.memory",
            ),
        ],
    ),
    "pinned-images": (
        with_container(image="registry.local:5000/api@sha256:" + "a" * 64),
        LOCAL,
        [
            (with_container(image="hft-backend:latest"), LOCAL, "moving tag"),
            (with_container(image="registry.local:5000/hft-backend"), LOCAL, "untagged"),
        ],
    ),
    "restricted-security-context": (
        deployment(),
        LOCAL,
        [
            (
                with_container(securityContext={"runAsUser": 0}),
                LOCAL,
                "runs as root; does not set readOnlyRootFilesystem: true; does not set "
                "allowPrivilegeEscalation: false",
            ),
            (
                deployment(
                    init=[
                        container(
                            "init",
                            securityContext={
                                "readOnlyRootFilesystem": True,
                                "allowPrivilegeEscalation": True,
                            },
                        )
                    ]
                ),
                LOCAL,
                "init container 'init' does not set allowPrivilegeEscalation: false",
            ),
        ],
    ),
    "health-probes": (
        # Init containers run to completion: no probes needed there.
        deployment(init=[container("migrate", livenessProbe=None, readinessProbe=None)]),
        LOCAL,
        [(with_container(readinessProbe=None), LOCAL, "has no readinessProbe")],
    ),
    "recommended-labels": (
        [deployment(), service(), pdb()],
        LOCAL,
        [
            (
                deployment(labels={"app.kubernetes.io/name": "api"}),
                LOCAL,
                "metadata.labels lack app.kubernetes.io/instance",
            ),
            (
                service(selector={**SELECTOR, "app.kubernetes.io/version": "0.1.0"}),
                LOCAL,
                "selectors are immutable",
            ),
        ],
    ),
    "no-nodeport-services": (
        service("LoadBalancer"),
        LOCAL,
        [(service("NodePort"), LOCAL, "is of type NodePort")],
    ),
    "no-plaintext-credentials": (
        [
            config_map({"NATS_URL": "nats://aegis-trader-nats:4222", "PASSWORD_FILE": "/run/pw"}),
            with_container(env=[{"name": "DB_URL", "value": "postgres://u:$(DB_PASSWORD)@db/x"}]),
        ],
        LOCAL,
        [
            (config_map({"REDIS_PASSWORD": "hunter2"}), LOCAL, "'REDIS_PASSWORD' holds a literal"),
            (
                with_container(env=[{"name": "apiToken", "value": "abc123"}]),
                LOCAL,
                "container 'api' env 'apiToken' holds a literal value",
            ),
            (
                with_container(env=[{"name": "DB_URL", "value": "postgres://u:pw@db:5432/x"}]),
                LOCAL,
                "URL with a literal password",
            ),
        ],
    ),
    "pod-disruption-budget": (
        [deployment(replicas=3), pdb()],
        LOCAL,
        [
            (deployment(replicas=2), LOCAL, "runs 2 replicas and no PodDisruptionBudget"),
            ([deployment(replicas=1), hpa(min_replicas=3)], LOCAL, "runs 3 replicas"),
            ([deployment(replicas=2), pdb(namespace="other")], LOCAL, "no PodDisruptionBudget"),
        ],
    ),
    "protect-data-in-production": (
        [statefulset(), pvc(protect=True), statefulset(claims=False, protect=False)],
        PRODUCTION,
        [
            (statefulset(protect=False), PRODUCTION, "holds volume claims in production"),
            (statefulset(retention="Delete"), PRODUCTION, "whenDeleted: Delete"),
            (pvc(protect=False), PRODUCTION, "is a volume claim in production, not protected"),
        ],
    ),
    "pod-resource-ceiling": (
        deployment(),
        LOCAL,
        [
            (
                with_container(
                    resources={
                        "requests": {"cpu": "1", "memory": "1Gi"},
                        "limits": {"cpu": "3", "memory": "6Gi"},
                    }
                ),
                LOCAL,
                "one pod may use 3 CPU, above the ceiling 2",
            ),
            (deployment(), Settings("production", max_pod_memory="128Mi"), "256Mi memory"),
        ],
    ),
    "hpa-for-scalable-workloads": (
        scalable(with_hpa=True),
        PRODUCTION,
        [(scalable(with_hpa=False), PRODUCTION, "has no autoscaler")],
    ),
}


def run_rule(rule: rules.Rule, given: Input, settings: Settings) -> list[rules.Violation]:
    resources = given if isinstance(given, list) else [given]
    return rules.evaluate(resources, settings, [rule])


def test_every_rule_has_compliant_and_violating_examples() -> None:
    assert set(CASES) == {rule.name for rule in rules.RULES}
    assert all(violating for _, _, violating in CASES.values())


@pytest.mark.parametrize("rule", rules.RULES, ids=lambda r: r.name)
def test_compliant_example_passes(rule: rules.Rule) -> None:
    compliant, settings, _ = CASES[rule.name]
    assert run_rule(rule, compliant, settings) == []


VIOLATING = [
    pytest.param(rule, index, id=f"{rule.name}-{index}")
    for rule in rules.RULES
    for index in range(len(CASES[rule.name][2]))
]


@pytest.mark.parametrize(("rule", "index"), VIOLATING)
def test_violating_example_fails_naming_policy_resource_and_fix(
    rule: rules.Rule, index: int
) -> None:
    given, settings, expected = CASES[rule.name][2][index]
    found = run_rule(rule, given, settings)
    assert found, f"{rule.name} passed a violating example"
    messages = [v.message() for v in found]
    assert any(expected in m for m in messages), messages
    for violation in found:
        assert violation.policy == rule.name
        assert violation.mandatory is rule.mandatory
        assert violation.message().startswith(f"[{rule.name}] ")
        assert re.search(r"\] \w+ aegis-trader/aegis-trader-\w+: ", violation.message())
        assert f"Fix: {violation.fix}" in violation.message() and violation.fix


def test_mandatory_and_advisory_levels() -> None:
    advisory = {r.name for r in rules.RULES if not r.mandatory}
    assert advisory == {"pod-resource-ceiling", "hpa-for-scalable-workloads"}


@pytest.mark.parametrize(
    ("name", "credential"),
    [
        ("PASSWORD", True),
        ("REDIS_PASSWORD", True),
        ("redisPassword", True),
        ("API_KEY", True),
        ("SIGNING_KEY", True),
        ("JWT_SECRET", True),
        ("GITHUB_TOKEN", True),
        ("PASSWORD_FILE", False),
        ("DATA_SOURCE_PASS_FILE", False),
        ("CREDENTIALS_SECRET_NAME", False),
        ("NATS_KV_BUCKET", False),
        ("CACHE_KEY_PREFIX", False),
        ("TOKEN_URL", False),
        ("nats.conf", False),
    ],
)
def test_credential_names(name: str, credential: bool) -> None:
    assert rules.is_credential_name(name) is credential


def test_references_are_not_literal_credentials() -> None:
    for value in ("$(REDIS_PASSWORD)", "${REDIS_PASSWORD}", "$REDIS_PASSWORD", ""):
        assert rules.literal_credential("REDIS_PASSWORD", value) is None
    assert rules.literal_credential("X", "redis://:${REDIS_PASSWORD}@redis:6379") is None


@pytest.mark.parametrize(
    ("image", "pinned"),
    [
        ("nats:2.11.6-alpine", True),
        ("registry.local:5000/team/app:1.2", True),
        ("app@sha256:" + "0" * 64, True),
        ("app", False),
        ("registry.local:5000/app", False),
        ("app:latest", False),
    ],
)
def test_image_pinning(image: str, pinned: bool) -> None:
    assert (rules.image_problem(image) is None) is pinned


def test_native_sidecars_count_towards_the_pod_but_not_init_steps() -> None:
    sidecar = container("proxy", restartPolicy="Always")
    big_init = container(
        "migrate", resources={"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"cpu": "1"}}
    )
    spec = deployment(init=[sidecar, big_init]).props["spec"]["template"]["spec"]
    cpu, memory = rules.pod_footprint(spec)
    # Running: main + sidecar = 1 CPU and 512Mi (limits); the init step alone: 1 CPU, 1Gi.
    assert (cpu, memory) == (1, 2**30)
    spec["initContainers"] = [sidecar]
    assert rules.pod_footprint(spec) == (1, 512 * 2**20)


def test_upstream_chart_objects_are_out_of_scope() -> None:
    token = "kubernetes:apps/v1:Deployment"
    bad = with_container(image="app:latest", resources={})
    chain = f"trading:mesh:Mesh$kubernetes:helm.sh/v4:Chart${token}"
    urn = f"urn:pulumi:dev::trading-platform::{chain}::x"
    charted = Resource(bad.type, bad.props, urn, bad.name)
    assert rules.evaluate([bad], LOCAL) != []
    assert rules.evaluate([charted], LOCAL) == []


def test_unknown_values_are_skipped_not_failed() -> None:
    resource = with_container(resources=rules.UNKNOWN, image=rules.UNKNOWN)
    assert rules.evaluate([resource], LOCAL, [rules.CONTAINER_RESOURCES, rules.PINNED_IMAGES]) == []


def test_protection_is_only_required_in_production() -> None:
    assert rules.evaluate([statefulset(protect=False), pvc(False)], LOCAL) == []


@pytest.mark.parametrize(
    ("configured", "profile", "stack", "expected"),
    [
        ("production", "local", "dev", "production"),
        ("local", "production", "prod", "local"),
        ("auto", "production", "dev", "production"),
        (None, None, "acme/prod-eu", "production"),
        (None, None, "dev", "local"),
        (None, None, None, "local"),
    ],
)
def test_environment_resolution(
    configured: str | None, profile: str | None, stack: str | None, expected: str
) -> None:
    assert rules.resolve_environment(configured, profile, stack) == expected


def test_ceilings_default_per_environment_and_are_configurable() -> None:
    assert rules.settings_from({}, "local").ceilings == ("2", "4Gi")
    assert rules.settings_from({}, "production").ceilings == ("8", "32Gi")
    custom = rules.settings_from({"maxPodCpu": "4", "maxPodMemory": "8Gi"}, "production")
    assert custom.ceilings == ("4", "8Gi")


# --------------------------------------------------------------------------------------------
# The recorded graphs of every stack.


def test_every_stacks_graph_passes_every_mandatory_policy(stack: Recording) -> None:
    report = check.check_recording(stack)
    assert report.mandatory == [], "\n".join(report.lines())


def test_stacks_resolve_their_environment(
    dev: Recording, staging: Recording, prod: Recording
) -> None:
    assert check.settings_for(dev).environment == "local"
    # Staging is production sizing: production's rules (protected data, spread, HPAs) apply.
    assert check.settings_for(staging).environment == "production"
    assert check.settings_for(prod).environment == "production"


def test_recorded_graphs_are_actually_checked(dev: Recording) -> None:
    """Guard against a vacuous pass: the rules see the workloads and their containers."""
    resources = [check.to_resource(r) for r in dev.resources]
    with_pods = [r for r in resources if rules.pod_spec(r) is not None]
    assert len(with_pods) >= 3
    broken = copy.deepcopy(with_pods[0].props)
    for c in rules.containers(rules.pod_spec(Resource(with_pods[0].type, broken)) or {}):
        c.spec["image"] = "nats:latest"  # type: ignore[index]
    assert rules.evaluate([Resource(with_pods[0].type, broken)], LOCAL, [rules.PINNED_IMAGES])


@pytest.fixture(scope="module")
def unprotected_prod() -> Recording:
    """Production with data protection switched off: a real, config-driven violation."""
    return run_stack("prod", {"cluster": {"protectData": False}})


def test_violating_stack_fails_with_policy_resource_and_fix(unprotected_prod: Recording) -> None:
    report = check.check_recording(unprotected_prod)
    assert report.exit_code == 1
    text = "\n".join(report.lines())
    assert (
        "error: [protect-data-in-production] StatefulSet trading-prod/aegis-trader-nats: "
        "holds volume claims in production but is not protected. "
        "Fix: set cluster.protectData: true" in text
    )
    assert text.endswith(
        f"policy pack FAILED ({len(report.mandatory)} mandatory, 0 advisory violations)"
    )


def test_checker_cli_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    assert check.main(["--stack", "dev"]) == 0
    assert "stack dev: policy pack passed" in capsys.readouterr().out


# --------------------------------------------------------------------------------------------
# The pack's CrossGuard wiring, driven the way the analyzer drives it (no CLI).


def options(protect: bool = False) -> PolicyResourceOptions:
    return PolicyResourceOptions(protect, [], None, [], PolicyCustomTimeouts(0, 0, 0), [], None)


def policy(name: str) -> Any:
    return next(p for p in pack.policies() if p.name == name)


def test_pack_registers_every_rule_with_its_enforcement_level() -> None:
    built = {p.name: p for p in pack.policies()}
    assert set(built) == {r.name for r in rules.RULES}
    for rule in rules.RULES:
        kind = ResourceValidationPolicy if rule.resource_check else StackValidationPolicy
        assert isinstance(built[rule.name], kind)
        level = built[rule.name].enforcement_level
        assert level is not None and level.value == ("mandatory" if rule.mandatory else "advisory")
        assert built[rule.name].remediation_steps == rule.fix


def test_pack_resource_policy_reports_through_crossguard() -> None:
    bad = with_container(image="hft-backend:latest")
    reported: list[tuple[str, str | None]] = []
    args = ResourceValidationArgs(
        bad.type,
        unknown_checking_proxy(copy.deepcopy(dict(bad.props))),
        bad.urn,
        bad.name,
        options(),
        None,
    )
    policy("pinned-images").validate(args, lambda m, u=None: reported.append((m, u)))
    assert reported == [
        (
            "[pinned-images] Deployment aegis-trader/aegis-trader-api: container 'api' uses the "
            f"moving tag in 'hft-backend:latest'. Fix: {rules.PINNED_IMAGES.fix}",
            None,
        )
    ]


def test_pack_tolerates_values_unknown_during_preview() -> None:
    good = deployment()
    props = copy.deepcopy(dict(good.props))
    props["spec"]["template"]["spec"]["containers"][0]["image"] = rules.UNKNOWN
    reported: list[str] = []
    args = ResourceValidationArgs(
        good.type, unknown_checking_proxy(props), good.urn, good.name, options(), None
    )
    for name in ("pinned-images", "container-resources", "recommended-labels"):
        policy(name).validate(args, lambda m, u=None: reported.append(m))
    assert reported == []


def test_pack_stack_policy_fails_the_violating_stack(unprotected_prod: Recording) -> None:
    resources = [
        PolicyResource(
            r.type,
            check.to_resource(r).props,
            r.urn,
            r.name,
            options(r.protect),
            None,
            None,
            [],
            {},
        )
        for r in unprotected_prod.resources
    ]
    reported: list[tuple[str, str | None]] = []
    args = StackValidationArgs(resources, {"environment": "production"})
    policy("protect-data-in-production").validate(args, lambda m, u=None: reported.append((m, u)))
    nats = unprotected_prod.get("StatefulSet", "aegis-trader-nats")
    assert (
        "[protect-data-in-production] StatefulSet trading-prod/aegis-trader-nats: holds volume "
        f"claims in production but is not protected. Fix: {rules.PROTECT_DATA.fix}",
        nats.urn,
    ) in reported


# --------------------------------------------------------------------------------------------
# The pack's project files.


def pins(path: Path) -> dict[str, str]:
    found = {}
    for line in path.read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_.-]+)==(\S+)", line.strip())
        if match:
            found[match[1].lower()] = match[2]
    return found


def test_pack_pins_match_the_program() -> None:
    pack_pins = pins(ROOT / "policy" / "requirements.txt")
    assert pack_pins["pulumi"] == pins(ROOT / "requirements.txt")["pulumi"]
    assert pack_pins["pulumi-policy"] == pins(ROOT / "requirements-dev.txt")["pulumi-policy"]


def test_policy_project_file_declares_python() -> None:
    import yaml

    project = yaml.safe_load((ROOT / "policy" / "PulumiPolicy.yaml").read_text())
    assert project["runtime"]["name"] == "python"
    assert project["version"]
