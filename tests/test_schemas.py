"""Every object of both stacks validates against strict Kubernetes schemas and the CRDs."""

from __future__ import annotations

from collections import Counter
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from stacks.versions import ADDON_CRDS as ADDON_PINS
from tests.conftest import ADDON_CRDS, CRDS, KUBERNETES_VERSIONS
from tests.kubeschema import validate as validate_strict
from tools.offline import Recording

RECOMMENDED = (
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/version",
    "app.kubernetes.io/component",
    "app.kubernetes.io/part-of",
    "app.kubernetes.io/managed-by",
)


def is_custom(manifest: dict[str, Any]) -> bool:
    group = manifest["apiVersion"].split("/")[0]
    return "/" in manifest["apiVersion"] and group.endswith(
        ("istio.io", "coreos.com", "cert-manager.io")
    )


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_builtin_objects_validate_strictly(stack: Recording, version: str) -> None:
    checked = 0
    for registration in stack.kubernetes_objects():
        body = registration.manifest()
        if is_custom(body):
            continue
        try:
            validate_strict(body, version)
        except kubernetes_validate.ValidationError as error:
            pytest.fail(f"{body['kind']}/{registration.object_name} on {version}: {error.message}")
        checked += 1
    assert checked > 0


ADDON_GROUPS = {pin["group"] for pin in ADDON_PINS.values()}


def addon_crd_files() -> list[Path]:
    """The pinned add-on CRDs, where scripts/addon-crds.sh has downloaded them."""
    return [
        ADDON_CRDS / f"{name}-{pin['version']}" / Path(str(path)).name
        for name, pin in ADDON_PINS.items()
        for path in pin["files"]
        if (ADDON_CRDS / f"{name}-{pin['version']}" / Path(str(path)).name).is_file()
    ]


@cache
def crd_schemas() -> dict[tuple[str, str], dict[str, Any]]:
    """(apiVersion, kind) -> the CRD's schema, made strict (unknown fields rejected): the shared
    folder's (Istio, Prometheus operator) and the add-ons' (scripts/addon-crds.sh: cert-manager)."""
    schemas: dict[tuple[str, str], dict[str, Any]] = {}
    for path in [*CRDS.rglob("*.yaml"), *addon_crd_files()]:
        # libyaml's loader: the CRD files are megabytes of YAML.
        for doc in yaml.load_all(path.read_text(), Loader=yaml.CSafeLoader):
            if not doc or doc.get("kind") != "CustomResourceDefinition":
                continue
            group, kind = doc["spec"]["group"], doc["spec"]["names"]["kind"]
            for version in doc["spec"]["versions"]:
                schema = version.get("schema", {}).get("openAPIV3Schema")
                if schema:
                    checked = strict(schema)
                    # Every object carries these, whether or not the CRD's schema lists them.
                    checked.setdefault("properties", {}).update(
                        {
                            "apiVersion": {"type": "string"},
                            "kind": {"type": "string"},
                            "metadata": {"type": "object"},
                        }
                    )
                    schemas[(f"{group}/{version['name']}", kind)] = checked
    return schemas


def strict(schema: Any) -> Any:
    if isinstance(schema, dict):
        out = {k: strict(v) for k, v in schema.items()}
        pattern = out.get("pattern")
        if isinstance(pattern, str) and "(?i)" in pattern and not pattern.startswith("(?i)"):
            # Go's RE2 takes inline flags anywhere (`^(?i)(abort|warn)?$`); Python only first.
            out["pattern"] = "(?i)" + pattern.replace("(?i)", "")
        if (
            out.get("type") == "object"
            and "properties" in out
            and not out.get("x-kubernetes-preserve-unknown-fields")
            and "additionalProperties" not in out
        ):
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [strict(v) for v in schema]
    return schema


def test_custom_resources_validate_against_crds(stack: Recording) -> None:
    customs = [r.manifest() for r in stack.kubernetes_objects() if is_custom(r.manifest())]
    if not customs:
        pytest.skip(f"{stack.stack} declares no custom resources")
    if not CRDS.is_dir():
        pytest.skip(f"CRD folder {CRDS} is absent; custom resources not validated")
    schemas = crd_schemas()
    unchecked = []
    for body in customs:
        key = (body["apiVersion"], body["kind"])
        if key not in schemas and key[0].split("/")[0] in ADDON_GROUPS:
            unchecked.append(key)
            continue
        assert key in schemas, f"no CRD for {key}; the cluster would reject it"
        crd_validator(key).validate(body)
    if unchecked:
        pytest.skip(
            f"the others validated; {sorted(set(unchecked))} not: their CRDs are not downloaded "
            f"(scripts/addon-crds.sh, into {ADDON_CRDS})"
        )


@cache
def crd_validator(key: tuple[str, str]) -> Any:
    """One checked validator per CRD (checking a 70 KB schema per object is slow)."""
    schema = crd_schemas()[key]
    validator = jsonschema.validators.validator_for(schema)
    validator.check_schema(schema)
    return validator(schema)


def test_no_two_resources_share_a_urn(stack: Recording) -> None:
    counts = Counter(r.urn for r in stack.resources)
    assert [urn for urn, n in counts.items() if n > 1] == []


def test_no_two_objects_share_kind_namespace_and_name(stack: Recording) -> None:
    keys = Counter(
        (r.kind, r.manifest()["metadata"].get("namespace"), r.object_name)
        for r in stack.kubernetes_objects()
    )
    assert [k for k, n in keys.items() if n > 1] == []


def test_every_object_has_an_explicit_name_and_recommended_labels(stack: Recording) -> None:
    for registration in stack.kubernetes_objects():
        meta = registration.manifest()["metadata"]
        assert meta.get("name"), f"{registration.urn} relies on auto-naming"
        missing = [label for label in RECOMMENDED if label not in meta.get("labels", {})]
        assert missing == [], f"{registration.kind}/{meta['name']} lacks {missing}"


def test_namespaced_objects_set_their_namespace(stack: Recording) -> None:
    cluster_scoped = {"Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition"}
    for registration in stack.kubernetes_objects():
        if registration.kind in cluster_scoped:
            continue
        assert registration.manifest()["metadata"].get("namespace"), registration.urn


def test_children_are_parented_and_named_after_their_component(stack: Recording) -> None:
    by_urn = {r.urn: r for r in stack.resources}
    for registration in stack.resources:
        parent = by_urn.get(registration.parent)
        if parent is None:
            # Only the providers and the tiers hang off the stack itself.
            assert registration.type.startswith(("pulumi:providers:", "trading:")), registration.urn
            continue
        assert registration.name.startswith(parent.name), registration.urn
    tokens = {r.type for r in stack.resources if r.type.startswith("trading:")}
    assert all(len(token.split(":")) == 3 for token in tokens)
    assert "trading:messaging:MessageBus" in tokens


def test_kubernetes_objects_use_the_explicit_provider(stack: Recording) -> None:
    (provider,) = [r for r in stack.resources if r.type == "pulumi:providers:kubernetes"]
    assert provider.inputs["context"] and provider.inputs["clusterIdentifier"]
    assert provider.inputs["enableServerSideApply"] in (True, "true")  # providers get strings
    for registration in stack.resources:
        if registration.custom and registration.type.startswith("kubernetes:"):
            assert registration.provider.startswith(provider.urn), registration.urn
