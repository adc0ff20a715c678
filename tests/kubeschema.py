"""Strict Kubernetes schema validation, as `kubernetes_validate.validate(..., strict=True)`
does it, with each version's definitions loaded once instead of once per object."""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import cache
from typing import Any

import jsonschema
import kubernetes_validate
from kubernetes_validate import utils
from referencing import Registry, Resource


@cache
def _definitions(version: str) -> Resource[Any]:
    schema_dir = f"v{version}-local-strict"
    contents = utils.schema_contents(
        f"kubernetes-json-schema/{schema_dir}/_definitions.json", version
    )
    return Resource.from_contents(contents)


@cache
def _validator(version: str, api_version: str, kind: str) -> jsonschema.protocols.Validator:
    schema_version = [
        v for v in utils.all_versions() if utils.major_minor(v) <= utils.major_minor(version)
    ][-1]
    group = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    schema_dir = f"v{schema_version}-local-strict"
    try:
        schema = utils.schema_contents(
            f"kubernetes-json-schema/{schema_dir}/{kind.lower()}-{group}.json", version
        )
    except FileNotFoundError:
        raise kubernetes_validate.SchemaNotFoundError(
            version=version, kind=kind, api_version=api_version
        ) from None
    registry: Registry[Any] = Resource.from_contents(schema) @ Registry()
    registry = _definitions(schema_version) @ registry
    return jsonschema.validators.Draft202012Validator(schema, registry=registry)


def validate(manifest: dict[str, Any], version: str) -> None:
    """Raise `kubernetes_validate.ValidationError` when `manifest` breaks the strict schema."""
    validator = _validator(version, manifest["apiVersion"], manifest["kind"])
    try:
        validator.validate(manifest)
    except jsonschema.ValidationError as error:
        raise kubernetes_validate.ValidationError(error, version=version) from None


def validate_each(manifests: Iterable[dict[str, Any]], version: str) -> int:
    """Validate every manifest; an empty batch is a failure, not a pass."""
    count = 0
    for manifest in manifests:
        validate(manifest, version)
        count += 1
    assert count > 0, "nothing to validate"
    return count
