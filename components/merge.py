"""One deep merge for configuration layers and chart values: later layers win key by key."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def deep_merge(*layers: Mapping[str, Any]) -> dict[str, Any]:
    """Later layers win; nested mappings merge key by key; lists and scalars are replaced."""
    merged: dict[str, Any] = {}
    for layer in layers:
        for key, value in layer.items():
            if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
                merged[key] = deep_merge(merged[key], value)
            else:
                merged[key] = value
    return merged
