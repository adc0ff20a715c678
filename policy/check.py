"""Run the policy pack's rules against a stack offline: `python -m policy.check --stack prod`.

The stack's program runs under the same mocks as the tests and the render (no CLI, no cluster);
every registered resource becomes a `rules.Resource` (type, inputs, protect, parent) and every
rule runs over them, as CrossGuard would at `pulumi preview --policy-pack policy/`. Mandatory
violations exit 1, printed one per line with the policy, the resource and the fix.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from policy import rules
from stacks.config import project_values
from stacks.errors import ConfigError
from tools.offline import Recording, Registration, engine_value, normalize, run_stack, unwrap
from tools.offline import stack_config as read_stack_config


def to_resource(registration: Registration) -> rules.Resource:
    """A recorded registration in the shape the rules take (secret markers unwrapped)."""
    return rules.Resource(
        type=registration.type,
        props=normalize(unwrap(registration.inputs)),
        urn=registration.urn,
        name=registration.name,
        protect=registration.protect,
        parent=registration.parent,
    )


def settings_for(recording: Recording, config: Mapping[str, Any] | None = None) -> rules.Settings:
    """The settings the pack would resolve for this stack: its `profile`, then its name."""
    values = project_values(
        {k: engine_value(v) for k, v in read_stack_config(recording.stack).items()}
    )
    profile = values.get("profile")
    return rules.settings_from(config or {}, str(profile) if profile else None, recording.stack)


@dataclass
class Report:
    stack: str
    violations: list[rules.Violation] = field(default_factory=list)

    @property
    def mandatory(self) -> list[rules.Violation]:
        return [v for v in self.violations if v.mandatory]

    @property
    def advisory(self) -> list[rules.Violation]:
        return [v for v in self.violations if not v.mandatory]

    @property
    def exit_code(self) -> int:
        return 1 if self.mandatory else 0

    def lines(self) -> list[str]:
        out = [f"error: {v.message()}" for v in self.mandatory]
        out += [f"warning: {v.message()}" for v in self.advisory]
        verdict = "FAILED" if self.mandatory else "passed"
        out.append(
            f"stack {self.stack}: policy pack {verdict} "
            f"({len(self.mandatory)} mandatory, {len(self.advisory)} advisory violations)"
        )
        return out


def check_recording(recording: Recording, settings: rules.Settings | None = None) -> Report:
    resources = [to_resource(r) for r in recording.resources]
    chosen = settings or settings_for(recording)
    return Report(recording.stack, rules.evaluate(resources, chosen))


def check_stack(stack: str, overrides: Mapping[str, Any] | None = None) -> Report:
    return check_recording(run_stack(stack, overrides))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stack", required=True, help="stack name, e.g. dev or prod")
    options = parser.parse_args(argv)
    try:
        report = check_stack(options.stack)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for line in report.lines():
        print(line, file=sys.stderr if line.startswith("error") else sys.stdout)
    return report.exit_code


if __name__ == "__main__":
    sys.exit(main())
