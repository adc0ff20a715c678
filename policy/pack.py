"""CrossGuard wiring: each rule of `rules/` (`rules.RULES`) becomes a `pulumi_policy` policy.

The adapters turn CrossGuard's arguments into `rules.Resource` (values unknown during a preview
become sentinels the rules skip) and report each `Violation` with its message, which names the
policy, the resource and the fix. `__main__.py` only serves `policies()` as the pack.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UnknownValueError

try:  # inside the repository: `policy` is a package
    from policy import rules
except ImportError:  # run or published as a standalone pack: this directory is on sys.path
    import rules  # type: ignore[import-not-found, no-redef]

PACK_NAME = "trading-platform"


def plain(value: Any) -> Any:
    """A CrossGuard property tree as plain dicts and lists, unknowns as `rules.UNKNOWN`."""
    if isinstance(value, str | bytes):
        return value
    if isinstance(value, Mapping):
        out = {}
        for key in value:
            try:
                out[key] = plain(value[key])
            except UnknownValueError:
                out[key] = rules.UNKNOWN
        return out
    if isinstance(value, Sequence):
        items = []
        for index in range(len(value)):
            try:
                items.append(plain(value[index]))
            except UnknownValueError:
                items.append(rules.UNKNOWN)
        return items
    return value


def stack_context() -> tuple[str | None, str | None]:
    """The stack's `trading-platform:profile` and the stack name, when the engine passes them."""
    try:
        import pulumi

        profile = pulumi.Config(PACK_NAME).get("profile")
        stack = pulumi.get_stack()
    except Exception:  # outside an engine run there is no stack to ask
        return None, None
    return profile, stack


def settings(config: Mapping[str, Any]) -> rules.Settings:
    profile, stack = stack_context()
    return rules.settings_from(plain(config), profile, stack)


def _level(rule: rules.Rule) -> EnforcementLevel:
    return EnforcementLevel.MANDATORY if rule.mandatory else EnforcementLevel.ADVISORY


def _schema(rule: rules.Rule) -> PolicyConfigSchema | None:
    if not rule.config:
        return None
    return PolicyConfigSchema(properties={k: dict(v) for k, v in rule.config.items()})


def resource_policy(rule: rules.Rule) -> ResourceValidationPolicy:
    check = rule.resource_check
    assert check is not None

    def validate(args: ResourceValidationArgs, report: ReportViolation) -> None:
        resource = rules.Resource(
            type=args.resource_type,
            props=plain(args.props),
            urn=args.urn,
            name=args.name,
            protect=bool(args.opts.protect),
            parent=args.opts.parent or "",
        )
        for violation in check(resource, settings(args.get_config())):
            report(violation.message(), None)

    return ResourceValidationPolicy(
        name=rule.name,
        description=rule.description,
        validate=validate,
        enforcement_level=_level(rule),
        config_schema=_schema(rule),
        remediation_steps=rule.fix,
    )


def stack_policy(rule: rules.Rule) -> StackValidationPolicy:
    check = rule.stack_check
    assert check is not None

    def validate(args: StackValidationArgs, report: ReportViolation) -> None:
        resources = [
            rules.Resource(
                type=r.resource_type,
                props=plain(r.props),
                urn=r.urn,
                name=r.name,
                protect=bool(r.opts.protect),
                parent=r.opts.parent or "",
            )
            for r in args.resources
        ]
        for violation in check(resources, settings(args.get_config())):
            report(violation.message(), violation.urn or None)

    return StackValidationPolicy(
        name=rule.name,
        description=rule.description,
        validate=validate,
        enforcement_level=_level(rule),
        config_schema=_schema(rule),
        remediation_steps=rule.fix,
    )


def policies() -> list[Policy]:
    built: list[Policy] = []
    for rule in rules.RULES:
        if rule.resource_check is not None:
            built.append(resource_policy(rule))
        if rule.stack_check is not None:
            built.append(stack_policy(rule))
    return built
