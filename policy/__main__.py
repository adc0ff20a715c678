"""The trading platform's CrossGuard policy pack: `pulumi preview --policy-pack policy/`.

The rules live in the `rules/` package (pure, unit-tested), their CrossGuard wiring in `pack.py`.
"""

import sys
from pathlib import Path

from pulumi_policy import PolicyPack

# The CLI runs this directory as a program: make `policy.*` importable from the repository, and
# `rules` / `pack` importable when the directory is used on its own (a published pack).
HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]

try:
    from policy import pack
except ImportError:
    import pack  # type: ignore[import-not-found, no-redef]

PolicyPack(
    name=pack.PACK_NAME,
    policies=pack.policies(),
    description="Trading platform rules: resources, pinned images, restricted pods, probes, "
    "labels, disruption budgets, data protection, no NodePort, no plaintext credentials.",
)
