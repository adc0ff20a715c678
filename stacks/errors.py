"""Configuration errors reported as one line, without a traceback."""

from __future__ import annotations

import pulumi

PROJECT = "trading-platform"


class ConfigError(pulumi.RunError):
    """Bad stack configuration. `pulumi.RunError` makes the engine print the message alone."""

    def __init__(self, key: str, value: object, allowed: str) -> None:
        self.key, self.value, self.allowed = key, value, allowed
        super().__init__(f"invalid configuration {qualified(key)} = {shown(value)}: {allowed}")


def shown(value: object, limit: int = 120) -> str:
    """The offending value, cut short: a whole settings object would drown the message."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 4] + " ..."


def qualified(key: str) -> str:
    """`messageBus.replicas` -> `trading-platform:messageBus.replicas`, as Pulumi names it."""
    return key if ":" in key else f"{PROJECT}:{key}"
