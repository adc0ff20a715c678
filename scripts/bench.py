"""Benchmark of the offline program run (not a test: timings vary by machine).

Prints render wall time for dev and prod, and the program's cost per registered resource
against a bare baseline measured in the same run: the same number of plain ConfigMaps
registered under the same mocks (one-key ConfigMaps), and against the same objects replayed
with no program logic (which isolates the program's own overhead). With `--catalogue`, it also
grows the trading-service catalogue (10 -> 200 services) to show the cost stays linear.

    .venv/bin/python scripts/bench.py [--repeat 3] [--catalogue]
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pulumi
import pulumi_kubernetes as k8s

from tools.offline import Recording, run_program, run_stack
from tools.render import write

TARGET_RATIO = 1.3


def timed(action: Callable[[], Recording], repeat: int) -> tuple[float, Recording]:
    """Median wall time of `repeat` runs, and the last recording."""
    times, recording = [], action()  # warm-up: imports and caches are not the program's cost
    for _ in range(repeat):
        start = time.perf_counter()
        recording = action()
        times.append(time.perf_counter() - start)
    return statistics.median(times), recording


def baseline(count: int) -> Recording:
    """`count` plain objects under the same mocks: the floor any program pays."""

    def program() -> None:
        provider = k8s.Provider("kubernetes", context="bench")
        opts = pulumi.ResourceOptions(provider=provider)
        for i in range(count - 1):
            k8s.core.v1.ConfigMap(
                f"plain-{i}",
                metadata={"name": f"plain-{i}", "namespace": "bench"},
                data={"key": "value"},
                opts=opts,
            )

    return run_program(program, "bench")


# API group -> pulumi_kubernetes module, for replaying recorded objects with their own types.
GROUPS = {
    "v1": "core",
    "apps": "apps",
    "batch": "batch",
    "policy": "policy",
    "autoscaling": "autoscaling",
    "networking.k8s.io": "networking",
    "rbac.authorization.k8s.io": "rbac",
}


def replay(recording: Recording) -> Recording:
    """The same objects with the same inputs, registered directly with no program logic:
    what remains of the program's cost above this is its own overhead."""
    manifests = [r.manifest() for r in recording.kubernetes_objects()]
    others = len(recording.resources) - len(manifests) - 1

    def program() -> None:
        provider = k8s.Provider("kubernetes", context="bench")
        opts = pulumi.ResourceOptions(provider=provider)
        for i, body in enumerate(manifests):
            group, _, version = body["apiVersion"].rpartition("/")
            module = GROUPS.get(group or "v1")
            fields = {
                re.sub(r"(?<!^)([A-Z])", r"_\1", k).lower(): v
                for k, v in body.items()
                if k not in ("apiVersion", "kind")
            }
            if module is None:
                k8s.apiextensions.CustomResource(
                    f"obj-{i}",
                    api_version=body["apiVersion"],
                    kind=body["kind"],
                    **fields,
                    opts=opts,
                )
            else:
                cls = getattr(getattr(getattr(k8s, module), version), body["kind"])
                cls(f"obj-{i}", **fields, opts=opts)
        for i in range(others):
            pulumi.ComponentResource("bench:index:Other", f"other-{i}")

    return run_program(program, "bench")


def per_resource(seconds: float, recording: Recording) -> float:
    return seconds / max(1, len(recording.resources))


def catalogue_overrides(count: int) -> dict[str, Any]:
    """Add synthetic services to the catalogue (ports from 20000), for the growth curve."""
    services = {
        f"bench-svc-{i}": {"port": 20000 + i, "stage": "processing", "calls": ["nats"]}
        for i in range(count)
    }
    return {"tradingServices": {"services": services}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="offline program benchmark")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--catalogue", action="store_true", help="grow the catalogue 10 -> 200")
    options = parser.parse_args(argv)
    worst = worst_replay = 0.0
    for stack in ("dev", "prod"):
        with tempfile.TemporaryDirectory() as out:

            def render(stack: str = stack, out: str = out) -> Recording:
                recording = run_stack(stack)
                write(recording, Path(out))
                return recording

            render_seconds, _ = timed(render, options.repeat)
        seconds, recording = timed(partial(run_stack, stack), options.repeat)
        count = len(recording.resources)
        base_seconds, _ = timed(partial(baseline, count), options.repeat)
        replay_seconds, _ = timed(partial(replay, recording), options.repeat)
        ratio = per_resource(seconds, recording) / (base_seconds / count)
        worst = max(worst, ratio)
        worst_replay = max(worst_replay, seconds / replay_seconds)
        print(
            f"{stack}: render {render_seconds:.2f}s; program {seconds:.2f}s for {count} "
            f"resources = {1000 * seconds / count:.2f} ms/resource vs baseline "
            f"{1000 * base_seconds / count:.2f} ms/resource: {ratio:.2f}x; the same objects "
            f"replayed without the program: {1000 * replay_seconds / count:.2f} ms/resource "
            f"({seconds / replay_seconds:.2f}x)"
        )
    if options.catalogue:
        for extra in (0, 50, 100, 190):
            seconds, recording = timed(
                partial(run_stack, "dev", catalogue_overrides(extra)), options.repeat
            )
            print(
                f"catalogue +{extra:>3}: {len(recording.resources):>5} resources, "
                f"{seconds:.2f}s, {1000 * per_resource(seconds, recording):.2f} ms/resource"
            )
    print(
        f"worst ratio {worst:.2f}x against plain ConfigMaps, {worst_replay:.2f}x against the "
        f"same objects replayed (target {TARGET_RATIO}x)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
