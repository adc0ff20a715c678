"""Read the stack's config, merge it over its profile's defaults and validate it.

Every failure becomes one `ConfigError` naming the key, the value and what is allowed, raised
before any resource is registered.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from components.merge import deep_merge
from stacks.errors import PROJECT, ConfigError
from stacks.settings import PlatformSettings

PROFILES_DIR = Path(__file__).with_name("profiles")
PROFILE_NAMES = ("local", "production")


@cache
def profiles() -> dict[str, dict[str, Any]]:
    """Profile name -> defaults, merged from one file per top-level key in `profiles/`."""
    merged: dict[str, dict[str, Any]] = {name: {} for name in PROFILE_NAMES}
    for path in sorted(PROFILES_DIR.glob("*.yaml")):
        document = yaml.safe_load(path.read_text()) or {}
        for name in PROFILE_NAMES:
            merged[name] = deep_merge(merged[name], document.get(name) or {})
    return merged


def decode(value: Any) -> Any:
    """The engine hands every value over as a string; objects and lists as JSON."""
    if isinstance(value, str) and value[:1] in ("{", "["):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def project_values(raw: Mapping[str, Any]) -> dict[str, Any]:
    """`trading-platform:<key>` entries of the engine's config, keyed by `<key>`."""
    prefix = f"{PROJECT}:"
    return {k[len(prefix) :]: decode(v) for k, v in raw.items() if k.startswith(prefix)}


def load_settings(values: Mapping[str, Any]) -> PlatformSettings:
    """Validate the stack's values over the chosen profile's defaults."""
    # Optional keys declared in Pulumi.yaml arrive as "" when unset: the profile decides.
    values = {k: v for k, v in values.items() if v != ""}
    profile = values.get("profile")
    known = profiles()
    if profile not in known:
        raise ConfigError("profile", profile, f"must be one of: {', '.join(known)}")
    merged = deep_merge(known[str(profile)], values)
    try:
        settings = PlatformSettings.model_validate(merged)
    except ValidationError as error:
        raise config_error(error, merged) from None
    return settings.with_capped_autoscalers()


def config_error(error: ValidationError, merged: Mapping[str, Any]) -> ConfigError:
    """One ConfigError for all of pydantic's findings, each naming key, value and allowed."""
    findings = [_finding(detail) for detail in error.errors()]
    key, value, allowed = findings[0]
    if len(findings) > 1:
        rest = "; ".join(f"{k} = {v!r}: {a}" for k, v, a in findings[1:])
        allowed = f"{allowed} (also: {rest})"
    return ConfigError(key, value, allowed)


def _finding(detail: Mapping[str, Any]) -> tuple[str, Any, str]:
    loc = [str(part) for part in detail["loc"]]
    key = ".".join(loc) or "(root)"
    message = str(detail["msg"]).removeprefix("Value error, ")
    if detail["type"] == "extra_forbidden":
        allowed_keys = _fields_at(PlatformSettings, loc[:-1])
        message = "unknown key; allowed keys here: " + ", ".join(allowed_keys)
        return key, detail.get("input"), message
    if detail["type"] == "missing":
        return key, None, "is required"
    return key, detail.get("input"), message


def _fields_at(model: type[BaseModel], path: list[str]) -> list[str]:
    """The camelCase keys a nested settings model accepts, for 'unknown key' messages."""
    current: Any = model
    parts = iter(path)
    for part in parts:
        fields = {f.alias or n: f for n, f in current.model_fields.items()}
        field = fields.get(part)
        if field is None:
            return []
        if getattr(field.annotation, "__origin__", None) is dict:
            next(parts, None)  # the map's own key (e.g. a service name), not a field
        current = _model_in(field.annotation)
        if current is None:
            return []
    return sorted(f.alias or n for n, f in current.model_fields.items())


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The settings model inside `X`, `X | None` or `dict[str, X]`."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def load_from_engine() -> PlatformSettings:
    """Settings of the stack the Pulumi engine is running."""
    from pulumi.runtime import config as runtime_config

    raw = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    return load_settings(project_values(raw))
