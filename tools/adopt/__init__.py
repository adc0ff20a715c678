"""Adopting seed 000's live Helm release in place: pre-flight check, snapshot and verification
(`python -m tools.adopt check|snapshot|verify`, docs/adoption.md).

One part per module: `model` (seed 000's release and inventory, `Problem`), `manifests` (reading
manifests, live or declared), `preflight` (the check before `pulumi up`), `resources` (container
resources and the namespace quota, declared against live), `verification` (snapshot before, verify
after), `live` (the cluster, read only), `cli` (the command line; `__main__` runs it).
"""

from tools.adopt.cli import ADOPT_STACK, Target, main, target
from tools.adopt.live import Runner, fetch_live, read_live, run_kubectl
from tools.adopt.manifests import desired_objects, dig, index, pod_resources, pod_template_labels
from tools.adopt.model import (
    HELM_REVISION,
    HELM_SECRET,
    HELM_SECRET_PREFIX,
    LIVE_KINDS,
    RELEASE,
    SEED_000,
    Manifest,
    Problem,
    SeedObject,
)
from tools.adopt.preflight import CLAIM_FIX, RECREATE_STEP, check
from tools.adopt.resources import QUOTA_KEYS, RESOURCES_FIX
from tools.adopt.verification import snapshot, verify

__all__ = [
    "ADOPT_STACK",
    "CLAIM_FIX",
    "HELM_REVISION",
    "HELM_SECRET",
    "HELM_SECRET_PREFIX",
    "LIVE_KINDS",
    "QUOTA_KEYS",
    "RECREATE_STEP",
    "RELEASE",
    "RESOURCES_FIX",
    "SEED_000",
    "Manifest",
    "Problem",
    "Runner",
    "SeedObject",
    "Target",
    "check",
    "desired_objects",
    "dig",
    "fetch_live",
    "index",
    "main",
    "pod_resources",
    "pod_template_labels",
    "read_live",
    "run_kubectl",
    "snapshot",
    "target",
    "verify",
]
