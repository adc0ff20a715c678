"""Offline render: `python -m tools.render --stack dev --out rendered/dev`.

Runs the stack's program with no Pulumi CLI and no cluster, writes every Kubernetes object it
declares as YAML (one file per object, a folder per tier, secret values redacted), prints a
summary, and exits non-zero when a stack's requests exceed its profile's node budget.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import yaml

from components.quantities import format_bytes, format_cpu
from stacks.config import load_settings, project_values
from stacks.errors import ConfigError
from tools.offline import (
    Recording,
    engine_value,
    normalize,
    redact_secrets,
    run_stack,
    stack_config,
)
from tools.summary import Totals, totals


def write(recording: Recording, out: Path) -> int:
    """Write each object (and each Helm release's chart and values) under `out/<tier>/`."""
    if out.exists():
        shutil.rmtree(out)
    count = 0
    for registration in recording.resources:
        if registration.is_kubernetes_object:
            body = registration.manifest(redact=True)
            filename = f"{registration.kind.lower()}-{registration.object_name}.yaml"
        elif registration.type.startswith("kubernetes:helm.sh/"):
            body = normalize(redact_secrets(registration.inputs))
            filename = f"helmrelease-{registration.name}.yaml"
        else:
            continue
        folder = out / recording.tier_of(registration)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / filename).write_text(yaml.safe_dump(body, sort_keys=False))
        count += 1
    return count


def over_budget(stack: str, result: Totals) -> list[str]:
    """Messages for each way the stack exceeds its profile's node budget (none when unset)."""
    values = project_values({k: engine_value(v) for k, v in stack_config(stack).items()})
    budget = load_settings(values).cluster.node_budget
    if budget is None:
        return []
    problems = []
    if result.cpu_requests > budget.cpu_cores():
        problems.append(
            f"CPU requests {format_cpu(result.cpu_requests)} exceed the node budget {budget.cpu}"
        )
    if result.memory_requests > budget.memory_bytes():
        problems.append(
            f"memory requests {format_bytes(result.memory_requests)} exceed the node budget "
            f"{budget.memory}"
        )
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stack", required=True, help="stack name, e.g. dev or prod")
    parser.add_argument("--out", type=Path, help="directory to write (default rendered/<stack>)")
    options = parser.parse_args(argv)
    out = options.out or Path("rendered") / options.stack
    try:
        recording = run_stack(options.stack)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    written = write(recording, out)
    result = totals(recording)
    print(f"stack {options.stack}: {written} files in {out}")
    print("\n".join(result.lines()))
    problems = over_budget(options.stack, result)
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
