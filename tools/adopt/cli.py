"""Adopting seed 000's live Helm release in place: pre-flight check, snapshot and verification.

    python -m tools.adopt check    [--stack adopt] [--live FILE]   # before changing anything
    python -m tools.adopt snapshot --out before.json [--live FILE]
    python -m tools.adopt verify   --before before.json [--live FILE]

`check` compares the cluster with what the stack declares and stops (exit 1), naming the object,
when anything seed 000 lists is missing, when an immutable field (a selector, a StatefulSet's
serviceName, podManagementPolicy or volume claim templates) differs, when a container would get
other resources than the live one (seed 000: "Resource Limits: tested", to preserve), when a
Service would lose its endpoints, when the Helm release moved on since the backup, or when the
namespace quota the stack sets leaves no room for the rolling update. `verify` compares a snapshot
taken before `pulumi up` with the cluster after it: no object or volume claim recreated, no
container restarted, Service IPs kept, the objects labelled as managed by Pulumi and no Helm
release record left.

The cluster is only read (`kubectl get`); `--live FILE` reads a saved `kubectl get -o json` list
instead (how the tests feed it). See docs/adoption.md for the ordered steps.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from stacks.config import load_settings, project_values
from stacks.errors import ConfigError
from tools.adopt.live import Runner, fetch_live, read_live, run_kubectl
from tools.adopt.manifests import desired_objects
from tools.adopt.model import SEED_000
from tools.adopt.preflight import check
from tools.adopt.verification import snapshot, verify
from tools.offline import Recording, engine_value, run_stack, stack_config

# The stack made for the adoption: seed 000's tested sizes, claims and images (Pulumi.adopt.yaml).
ADOPT_STACK = "adopt"


@dataclass(frozen=True)
class Target:
    context: str
    namespace: str
    recording: Recording


def target(stack: str) -> Target:
    values = project_values({k: engine_value(v) for k, v in stack_config(stack).items()})
    settings = load_settings(values)
    return Target(settings.kube_context, settings.namespace, run_stack(stack))


def main(argv: list[str] | None = None, run: Runner = run_kubectl) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["check", "snapshot", "verify"])
    parser.add_argument(
        "--stack", default=ADOPT_STACK, help="the stack that adopts the release (Pulumi.adopt.yaml)"
    )
    parser.add_argument("--live", type=Path, help="a saved `kubectl get -o json` list")
    parser.add_argument("--out", type=Path, help="snapshot: where to write it")
    parser.add_argument("--before", type=Path, help="verify: the snapshot taken before")
    parser.add_argument(
        "--recreate",
        action="append",
        default=[],
        metavar="StatefulSet/NAME",
        help="a StatefulSet replaced without its pods (--cascade=orphan); see docs/adoption.md",
    )
    options = parser.parse_args(argv)
    try:
        where = target(options.stack)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    try:
        live = (
            read_live(options.live)
            if options.live
            else fetch_live(where.context, where.namespace, run)
        )
    except (OSError, subprocess.CalledProcessError, json.JSONDecodeError) as error:
        print(f"error: cannot read the cluster: {error}", file=sys.stderr)
        return 2

    if options.command == "check":
        problems = check(
            live,
            desired_objects(where.recording, where.namespace),
            where.namespace,
            recreate=options.recreate,
        )
        blocking = [p for p in problems if p.blocking]
        for problem in problems:
            prefix = "error" if problem.blocking else "step"
            print(f"{prefix}: {problem.message()}", file=sys.stderr if problem.blocking else None)
        if blocking:
            print(f"adoption check FAILED: {len(blocking)} problem(s); nothing was changed")
            return 1
        print(f"adoption check passed: all {len(SEED_000)} seed 000 objects are in place")
        return 0
    if options.command == "snapshot":
        if options.out is None:
            parser.error("snapshot needs --out")
        options.out.write_text(json.dumps(snapshot(live), indent=2, sort_keys=True) + "\n")
        print(f"snapshot written to {options.out}")
        return 0
    if options.before is None:
        parser.error("verify needs --before")
    problems, notes = verify(
        json.loads(options.before.read_text()), snapshot(live), options.recreate
    )
    for note in notes:
        print(f"note: {note}")
    for problem in problems:
        print(f"error: {problem.message()}", file=sys.stderr)
    print("adoption verify " + ("FAILED" if problems else "passed"))
    return 1 if problems else 0
