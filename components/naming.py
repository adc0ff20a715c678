"""Object names and labels, compatible with the Helm chart that deployed seed 000.

Names follow Helm's fullname rule so the live release can be adopted in place, and selectors
carry only `name` + `instance` because selectors are immutable once created.
"""

from __future__ import annotations

import re

MAX_NAME = 63
MANAGED_BY = "pulumi"
PART_OF = "trading-platform"

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def is_dns_label(value: str) -> bool:
    """True when `value` is a DNS-1123 label (lower case, digits, '-', at most 63 characters)."""
    return len(value) <= MAX_NAME and bool(_DNS_LABEL.match(value))


def fullname(release: str, component: str) -> str:
    """Helm's fullname: `{release}-{component}` cut to 63 characters without a trailing '-'."""
    if component in release:
        return release[:MAX_NAME].rstrip("-")
    return f"{release}-{component}"[:MAX_NAME].rstrip("-")


def selector_labels(release: str, component: str) -> dict[str, str]:
    """The immutable selector: only name + instance."""
    return {
        "app.kubernetes.io/name": component,
        "app.kubernetes.io/instance": release,
    }


def recommended_labels(
    release: str, component: str, version: str, tier: str | None = None
) -> dict[str, str]:
    """Kubernetes recommended labels for object metadata."""
    return {
        **selector_labels(release, component),
        "app.kubernetes.io/version": version,
        "app.kubernetes.io/component": tier or component,
        "app.kubernetes.io/part-of": PART_OF,
        "app.kubernetes.io/managed-by": MANAGED_BY,
    }


def env_name(service: str) -> str:
    """`risk-manager` -> `RISK_MANAGER`, for `SERVICE_<NAME>_URL` variables."""
    return re.sub(r"[^A-Z0-9]", "_", service.upper())
