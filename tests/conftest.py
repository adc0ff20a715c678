"""Session fixtures: each stack's program runs once offline; tests query the recorded graph."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tools.offline import Recording, run_stack

SHARED = Path(__file__).resolve().parents[2] / "shared"
CRDS = SHARED / "crds"
# CRDs of add-ons the platform uses but does not install (scripts/addon-crds.sh downloads them).
ADDON_CRDS = Path(os.environ.get("E2E_CACHE", Path.home() / ".cache" / "aegis-e2e")) / "crds"
KUBERNETES_VERSIONS = ("1.27", "1.33")  # seed 000 (kind) and seed 002 (OrbStack)


@pytest.fixture(scope="session")
def dev() -> Recording:
    return run_stack("dev")


@pytest.fixture(scope="session")
def prod() -> Recording:
    return run_stack("prod")


@pytest.fixture(scope="session")
def staging() -> Recording:
    return run_stack("staging")


@pytest.fixture(scope="session")
def adopt() -> Recording:
    """The stack that adopts seed 000's live Helm release (Pulumi.adopt.yaml)."""
    return run_stack("adopt")


# Every stack: the three environments and the adoption stack hold the same invariants.
@pytest.fixture(scope="session", params=["dev", "staging", "prod", "adopt"])
def stack(request: pytest.FixtureRequest) -> Recording:
    recording: Recording = request.getfixturevalue(request.param)
    return recording
