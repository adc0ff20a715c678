"""The one crossing from plain manifest dicts into pulumi_kubernetes' typed arguments.

Manifests are built as data (unit-tested, and validated against the strict Kubernetes schemas
in the test suite); the SDK's TypedDicts cannot describe dicts assembled at run time.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import pulumi

R = TypeVar("R", bound=pulumi.CustomResource)


def kube(cls: Callable[..., R], name: str, opts: pulumi.ResourceOptions, **fields: Any) -> R:
    """`cls(name, opts=opts, **fields)`, e.g. `kube(k8s.core.v1.Service, "api", opts, spec=...)`."""
    return cls(name, opts=opts, **fields)
