"""No plaintext credentials in ConfigMaps or container env."""

from __future__ import annotations

import re
from typing import Any

from .manifests import containers, pod_spec
from .model import Resource, Rule, Settings, Violation, is_unknown, mapping, sequence

# Name tokens that mark a credential; a name ending in one of SAFE_SUFFIXES only refers to one.
CREDENTIAL_WORDS = frozenset(
    {
        "PASSWORD",
        "PASSWD",
        "PWD",
        "PASS",
        "PASSPHRASE",
        "SECRET",
        "TOKEN",
        "CREDENTIAL",
        "CREDENTIALS",
        "APIKEY",
        "PRIVATEKEY",
    }
)
SAFE_SUFFIXES = frozenset(
    {"NAME", "FILE", "PATH", "DIR", "REF", "URL", "URI", "ENABLED", "LENGTH", "TTL", "ID", "KEYS"}
)
_REFERENCE = re.compile(r"^\$(\(|\{)?[A-Za-z_][A-Za-z0-9_]*(\)|\})?$")
# scheme://user:password@host with a literal password (not `$(VAR)` / `${VAR}` / `$VAR`).
_URL_PASSWORD = re.compile(r"[a-z][a-z0-9+.-]*://[^\s:/@]*:(?!\$)([^\s@/]+)@", re.IGNORECASE)


def name_tokens(name: str) -> list[str]:
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name)
    return [t for t in re.split(r"[^A-Za-z0-9]+", spaced.upper()) if t]


def is_credential_name(name: str) -> bool:
    tokens = name_tokens(name)
    if not tokens or tokens[-1] in SAFE_SUFFIXES:
        return False
    return bool(CREDENTIAL_WORDS.intersection(tokens)) or tokens[-1] == "KEY"


def literal_credential(name: str, value: Any) -> str | None:
    """Why `name: value` holds a plaintext credential, or None."""
    if not isinstance(value, str) or is_unknown(value) or not value.strip():
        return None
    if is_credential_name(name) and not _REFERENCE.match(value.strip()):
        return f"{name!r} holds a literal value"
    if _URL_PASSWORD.search(value):
        return f"{name!r} holds a URL with a literal password"
    return None


def check_plaintext_credentials(resource: Resource, _: Settings) -> list[Violation]:
    if resource.third_party:
        return []
    out = []
    if resource.is_("core", "ConfigMap"):
        for key, value in mapping(resource.props.get("data")).items():
            problem = literal_credential(key, value)
            if problem:
                out.append(PLAINTEXT_CREDENTIALS.violation(resource, f"data key {problem}"))
        return out
    spec = pod_spec(resource)
    if spec is None:
        return []
    for c in containers(spec):
        for env in sequence(c.spec.get("env")):
            env = mapping(env)
            name = env.get("name")
            if isinstance(name, str):
                problem = literal_credential(name, env.get("value"))
                if problem:
                    out.append(
                        PLAINTEXT_CREDENTIALS.violation(resource, f"{c.label} env {problem}")
                    )
    return out


PLAINTEXT_CREDENTIALS = Rule(
    "no-plaintext-credentials",
    "No ConfigMap value or container env value holds a literal credential.",
    "keep the value in a Secret and reference it (env valueFrom.secretKeyRef, the workload "
    "pattern's `SecretEnv`, or a mounted Secret file)",
    mandatory=True,
    resource_check=check_plaintext_credentials,
)
