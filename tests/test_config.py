"""Bad configuration fails before any resource is registered, with one message naming the key,
the value and what is allowed; good configuration merges the profile with the stack's overrides."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, get_args

import pytest
from pydantic import BaseModel, TypeAdapter

from stacks.config import deep_merge, load_settings
from stacks.errors import ConfigError
from stacks.settings.root import PlatformSettings
from stacks.settings.types import NamespaceName
from tests.helpers import assert_rejected

# (overrides, key named, value named, words of what is allowed)
BAD_CONFIGS: list[tuple[dict[str, Any], str, str, str]] = [
    ({"profile": "staging"}, "profile", "staging", "local, production"),
    ({"release": "Aegis_Trader"}, "release", "Aegis_Trader", "DNS-1123"),
    ({"namespace": "-trading"}, "namespace", "-trading", "DNS-1123"),
    # Every namespace-valued setting: one type (NamespaceName), one message.
    ({"namespace": "a" * 64}, "namespace", "a" * 64, "namespace name, a DNS-1123 label"),
    ({"namespace": "Trading"}, "namespace", "Trading", "lower-case letters, digits and '-'"),
    ({"monitoringNamespace": "mon_itoring"}, "monitoringNamespace", "mon_itoring", "DNS-1123"),
    (
        {"mesh": {"systemNamespace": "Bad_Name! x"}},
        "mesh.systemNamespace",
        "Bad_Name! x",
        "must be a namespace name, a DNS-1123 label: lower-case letters, digits and '-', "
        "starting and ending with a letter or digit, at most 63 characters",
    ),
    ({"mesh": {"ingressNamespace": "istio-"}}, "mesh.ingressNamespace", "istio-", "DNS-1123"),
    (
        {"observability": {"namespace": "monitoring.svc"}},
        "observability.namespace",
        "monitoring.svc",
        "DNS-1123",
    ),
    ({"release": "a" * 31}, "release", "a" * 31, "at most 30 characters"),
    ({"relaese": "aegis-trader"}, "relaese", "aegis-trader", "allowed keys here"),
    (
        {"cluster": {"quota": {"requestsMemory": "4GB"}}},
        "cluster.quota.requestsMemory",
        "4GB",
        "byte quantity",
    ),
    (
        {"cluster": {"containerDefaults": {"cpuRequest": "1.5 cpu"}}},
        "cluster.containerDefaults.cpuRequest",
        "1.5 cpu",
        "CPU quantity",
    ),
    ({"cluster": {"quota": {"pods": 0}}}, "cluster.quota.pods", "0", "between 1 and"),
    ({"cluster": {"quota": {"pods": -3}}}, "cluster.quota.pods", "-3", "between 1 and"),
    ({"cluster": {"quota": {"pods": "many"}}}, "cluster.quota.pods", "many", "integer"),
    (
        {"cluster": {"imagePullPolicy": "Sometimes"}},
        "cluster.imagePullPolicy",
        "Sometimes",
        "'Always', 'IfNotPresent' or 'Never'",
    ),
    (
        {"cluster": {"spreadAcrossNodes": "perhaps"}},
        "cluster.spreadAcrossNodes",
        "perhaps",
        "boolean",
    ),
    (
        {"cluster": {"nodeBudget": {"memory": "6GB"}}},
        "cluster.nodeBudget.memory",
        "6GB",
        "byte quantity",
    ),
    ({"cluster": {"quota": {"cpu": "4"}}}, "cluster.quota.cpu", "4", "requestsCpu"),
    (
        {"cluster": {"containerDefaults": {"memoryRequest": "1Gi", "memoryLimit": "256Mi"}}},
        "cluster.containerDefaults",
        "1Gi",
        "must not exceed its limit",
    ),
    ({"kubeContext": ""}, "kubeContext", "None", "is required"),
    ({"appVersion": "v 1"}, "appVersion", "v 1", "Kubernetes label value"),
    (
        {"messageBus": {"storage": {"size": 10}}},
        "messageBus.storage.size",
        "10",
        "needs a unit",
    ),
    (
        {"messageBus": {"storage": {"size": "0Gi"}}},
        "messageBus.storage.size",
        "0Gi",
        "more than zero",
    ),
    (
        {"cluster": {"containerDefaults": {"cpuRequest": "0"}}},
        "cluster.containerDefaults.cpuRequest",
        "0",
        "more than zero",
    ),
    (
        {
            "api": {
                "backend": {
                    "autoscaling": {
                        "minReplicas": 1,
                        "maxReplicas": 2,
                        "cpuPercent": 70,
                        "scaleUpWindowSeconds": -5,
                    }
                }
            }
        },
        "api.backend.autoscaling.scaleUpWindowSeconds",
        "-5",
        "between 0 and 3600",
    ),
    (
        {
            "tradingServices": {
                "stages": {"procesing": {"minReplicas": 1, "maxReplicas": 2, "cpuPercent": 70}}
            }
        },
        "tradingServices.stages.procesing",
        "procesing",
        "no service has",
    ),
]


@pytest.mark.parametrize(
    ("overrides", "key", "value", "allowed"), BAD_CONFIGS, ids=[c[1] for c in BAD_CONFIGS]
)
def test_bad_config_fails_before_any_resource(
    overrides: dict[str, Any], key: str, value: str, allowed: str
) -> None:
    assert_rejected(overrides, key, value, allowed)


def _models(model: type[BaseModel], seen: set[type[BaseModel]]) -> Iterator[type[BaseModel]]:
    if model in seen:
        return
    seen.add(model)
    yield model
    for info in model.model_fields.values():
        stack = [info.rebuild_annotation()]
        while stack:
            annotation = stack.pop()
            if isinstance(annotation, type) and issubclass(annotation, BaseModel):
                yield from _models(annotation, seen)
            stack.extend(get_args(annotation))


def test_every_namespace_setting_is_a_validated_namespace_name() -> None:
    """Every field that names a namespace, anywhere in the settings, uses the one shared type."""
    found = []
    for model in _models(PlatformSettings, set()):
        for name, info in model.model_fields.items():
            if name == "namespace" or name.endswith("_namespace"):
                annotation = info.rebuild_annotation()
                assert annotation == NamespaceName or NamespaceName in get_args(annotation), (
                    f"{model.__name__}.{name}"
                )
                found.append(info.alias or name)
    assert sorted(found) == sorted(
        ["namespace", "monitoringNamespace", "namespace", "systemNamespace", "ingressNamespace"]
    )


@pytest.mark.parametrize("good", ["a", "trading-prod", "istio-system", "x" * 63, "0-team-9"])
def test_namespace_names_accepted(good: str) -> None:
    assert TypeAdapter(NamespaceName).validate_python(good) == good


def test_missing_profile_names_the_key() -> None:
    with pytest.raises(ConfigError, match=r"trading-platform:profile = None: must be one of"):
        load_settings({"release": "aegis-trader"})


def test_profile_defaults_merge_with_stack_overrides() -> None:
    settings = load_settings(
        {
            "profile": "local",
            "release": "aegis-trader",
            "namespace": "aegis-trader",
            "kubeContext": "kind-aegis-local",
            "cluster": {"quota": {"pods": 99}},
        }
    )
    assert settings.cluster.quota.pods == 99
    # The rest of the quota still comes from the profile.
    assert settings.cluster.quota.requests_memory == "8Gi"  # the local profile's value
    assert settings.provider_identity == "kind-aegis-local"


def test_settings_are_frozen() -> None:
    settings = load_settings(
        {"profile": "local", "release": "r", "namespace": "n", "kubeContext": "c"}
    )
    with pytest.raises(ValueError, match="frozen"):
        settings.release = "other"  # type: ignore[misc]


def test_deep_merge_replaces_lists_and_merges_maps() -> None:
    merged = deep_merge({"a": {"b": 1, "c": [1, 2]}, "d": 1}, {"a": {"c": [3]}, "e": 2})
    assert merged == {"a": {"b": 1, "c": [3]}, "d": 1, "e": 2}


def test_project_file_declares_every_scalar_key_of_the_settings() -> None:
    """Pulumi.yaml and the settings model can't drift: each declared key is a settings field
    with a type and a description, and optional ones carry the default the engine passes."""
    from pathlib import Path

    import yaml

    from stacks.settings import PlatformSettings

    project = yaml.safe_load((Path(__file__).parents[1] / "Pulumi.yaml").read_text())
    assert project["name"] == "trading-platform"
    assert project["runtime"]["options"] == {"toolchain": "pip", "virtualenv": ".venv"}
    fields = {f.alias or n: f for n, f in PlatformSettings.model_fields.items()}
    declared = project["config"]
    for key, spec in declared.items():
        assert key in fields, f"Pulumi.yaml declares {key}, which the program doesn't read"
        assert spec["type"] in ("string", "boolean", "integer") and spec["description"]
        if not fields[key].is_required():
            assert "default" in spec, f"optional {key} needs a default (or pulumi requires it)"
    required = {k for k, f in fields.items() if f.is_required() and k not in declared}
    # Object-valued keys, and the secret externalPostgresPassword, come from the profiles (which
    # set every one); every other scalar key is declared.
    from stacks.config import profiles

    from_profiles = set.intersection(*(set(layer) for layer in profiles().values()))
    assert all(
        hasattr(fields[k].annotation, "model_fields") or k in from_profiles for k in required
    ), required


def test_render_mode_refuses_helm_charts_it_cannot_render() -> None:
    assert_rejected(
        {"renderDir": "rendered/dev"}, "renderDir", "rendered/dev", "observability.install to false"
    )


def _model_of(annotation: Any) -> type[BaseModel] | None:
    for candidate in (annotation, *get_args(annotation)):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def test_every_default_lives_once() -> None:
    """A setting that every profile sets takes no default in its model as well (issue 13: each
    default lives once, in the profiles): a second copy would drift from the first unseen."""
    from stacks.config import profiles

    defaults = profiles()
    twice: list[str] = []

    def walk(model: type[BaseModel], path: str, layers: list[Any]) -> None:
        for name, field in model.model_fields.items():
            key = field.alias or name
            values = [
                layer.get(key, KeyError) if isinstance(layer, dict) else KeyError
                for layer in layers
            ]
            nested = _model_of(field.annotation)
            if nested is not None and all(isinstance(v, dict) for v in values):
                walk(nested, f"{path}{key}.", values)
            elif not field.is_required() and all(v is not KeyError for v in values):
                twice.append(f"{path}{key}")

    walk(PlatformSettings, "", list(defaults.values()))
    assert twice == [], f"set by every profile and defaulted in the model too: {twice}"
