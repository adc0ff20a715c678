"""Credentials reach containers as mounted files (`<NAME>_FILE`, a config written from the
file), not as environment variables: only an explicit allowlist takes a Secret as env."""

from __future__ import annotations

from typing import Any

from tests.helpers import pod_template_specs, secret_file
from tools.offline import Recording

# (workload name, container, variable) -> why it must stay an environment variable.
ALLOWED_SECRET_ENV = {
    **{
        ("aegis-trader-monitor-api", "monitor-api", var): (
            "seed 000's monitor API image (adopted release) reads NATS credentials from the "
            "environment only"
        )
        for var in ("NATS_USER", "NATS_PASSWORD")
    },
}


def secret_env(recording: Recording) -> dict[tuple[str, str, str], dict[str, Any]]:
    found = {}
    for _, name, pod in pod_template_specs(recording):
        for c in pod["containers"] + pod.get("initContainers", []):
            for e in c.get("env", []):
                ref = e.get("valueFrom", {}).get("secretKeyRef")
                if ref is not None:
                    found[(name, c["name"], e["name"])] = ref
    return found


def test_no_container_takes_a_secret_as_env_outside_the_allowlist(stack: Recording) -> None:
    unexpected = sorted(set(secret_env(stack)) - set(ALLOWED_SECRET_ENV))
    assert unexpected == []


def test_every_file_variable_names_a_key_of_a_mounted_secret(stack: Recording) -> None:
    """A `*_FILE` variable that names a path is a file of a Secret mounted in that container."""
    checked = 0
    for _, _, pod in pod_template_specs(stack):
        for c in pod["containers"] + pod.get("initContainers", []):
            for e in c.get("env", []):
                if e["name"].endswith("_FILE") and str(e.get("value", "")).startswith("/run/"):
                    secret_file(pod, c, e["value"])
                    checked += 1
    assert checked >= 10
