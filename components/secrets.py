"""Credentials every tier needs, from one building block.

`generated` (default): passwords from `pulumi_random`, kept in a Secret; they stay Pulumi secrets
end to end. `external` (seed 001's recommended option): an ExternalSecret makes the External
Secrets Operator build the same Secret from a ClusterSecretStore, and no value enters the state.
Either way consumers see a Secret named `secret_name` with the same keys. `credential_view`
builds a further Secret whose keys are copies of other credentials' keys (generated: the same
values; external: the same store properties), so no credential exists twice at its source.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from components.kube import kube
from components.workload import Platform

EXTERNAL_SECRETS_API = "external-secrets.io/v1"


@dataclass(frozen=True)
class DerivedKey:
    """A key computed from the generated key `source`, e.g. a config block a server includes:
    `render(value)` in generated mode, the External Secrets template `template` (Go template
    with sprig, over `.{source}`) in external mode. Both must produce the same text."""

    source: str
    render: Callable[[str], str]
    template: str


def json_map(address: str, source: str) -> DerivedKey:
    """`{address: value}` as JSON (redis_exporter's REDIS_PASSWORD_FILE)."""
    return DerivedKey(
        source,
        lambda value: json.dumps({address: value}),
        f"{{{{ dict {json.dumps(address)} .{source} | toJson }}}}",
    )


@dataclass(frozen=True)
class CredentialArgs:
    platform: Platform
    component: str
    secret_name: str
    # Keys whose values are generated (or, externally, read from the store).
    generated: tuple[str, ...]
    # Keys with plain, non-secret values (e.g. a user name).
    fixed: Mapping[str, str] = field(default_factory=dict)
    # Keys computed from a generated key (a config block, a JSON map).
    derived: Mapping[str, DerivedKey] = field(default_factory=dict)
    length: int = 32
    refresh_interval: str = "1h"


def remote_key(platform: Platform, secret_name: str) -> str:
    """The store path an operator fills: `{release}/{secret}`, one property per key."""
    return f"{platform.release}/{secret_name}"


class Credentials(pulumi.ComponentResource):
    """A Secret of generated credentials, or the ExternalSecret that produces it."""

    name: str
    args: CredentialArgs
    # Generated mode: every key's value (Outputs of the generated ones); external: None.
    values: dict[str, pulumi.Input[str]] | None

    def __init__(
        self, name: str, args: CredentialArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("trading:platform:Credentials", name, None, opts)
        platform = args.platform
        # Generated credentials are identity: losing them locks clients out of their data.
        guarded = pulumi.ResourceOptions(
            parent=self, protect=platform.protect_data, retain_on_delete=platform.protect_data
        )
        metadata = platform.metadata(args.component, name=args.secret_name)
        self.name = args.secret_name
        self.args = args
        self.values = None
        if platform.secret_store is None:
            values: dict[str, pulumi.Input[str]] = dict(args.fixed)
            for key in args.generated:
                password = random.RandomPassword(
                    f"{name}-{key}", length=args.length, special=False, opts=guarded
                )
                values[key] = password.result
            for key, derived in args.derived.items():
                values[key] = pulumi.Output.from_input(values[derived.source]).apply(derived.render)
            self.values = values
            self.secret = kube(
                k8s.core.v1.Secret,
                name,
                opts=guarded,
                metadata=metadata,
                type="Opaque",
                string_data=values,
            )
        else:
            template = {key: f"{{{{ .{key} }}}}" for key in args.generated}
            template.update(args.fixed)
            for key, derived in args.derived.items():
                template[key] = derived.template
            kube(
                k8s.apiextensions.CustomResource,
                name,
                opts=pulumi.ResourceOptions(parent=self),
                api_version=EXTERNAL_SECRETS_API,
                kind="ExternalSecret",
                metadata=metadata,
                spec={
                    "refreshInterval": args.refresh_interval,
                    "secretStoreRef": {"kind": "ClusterSecretStore", "name": platform.secret_store},
                    "target": {
                        "name": args.secret_name,
                        "creationPolicy": "Owner",
                        "template": {"type": "Opaque", "data": template},
                    },
                    "data": [
                        {
                            "secretKey": key,
                            "remoteRef": {
                                "key": remote_key(platform, args.secret_name),
                                "property": key,
                            },
                        }
                        for key in args.generated
                    ],
                },
            )
        self.register_outputs({"name": self.name})


@dataclass(frozen=True)
class KeySource:
    """Key `key` of `credentials` (generated, fixed or a JSON map)."""

    credentials: Credentials
    key: str


def credential_view(
    name: str,
    platform: Platform,
    component: str,
    keys: Mapping[str, KeySource],
    opts: pulumi.ResourceOptions,
) -> pulumi.Resource:
    """The Secret `{release}-{component}` whose keys repeat other credentials' keys: generated,
    a Secret of the same values; external, an ExternalSecret reading the same store
    properties (fixed values go into its template). Derived keys are not supported."""
    metadata = platform.metadata(component)
    if platform.secret_store is None:
        data: dict[str, pulumi.Input[str]] = {}
        for key, source in keys.items():
            values = source.credentials.values
            if values is None:
                raise ValueError(f"{source.credentials.name} has no values in external mode")
            data[key] = values[source.key]
        return kube(
            k8s.core.v1.Secret,
            name,
            opts=opts,
            metadata=metadata,
            type="Opaque",
            string_data=data,
        )
    template: dict[str, str] = {}
    remote: list[dict[str, object]] = []
    for key, source in keys.items():
        args = source.credentials.args
        if source.key in args.fixed:
            template[key] = args.fixed[source.key]
            continue
        if source.key not in args.generated:
            raise ValueError(f"{args.secret_name} has no generated key {source.key!r}")
        template[key] = f"{{{{ .{key} }}}}"
        remote.append(
            {
                "secretKey": key,
                "remoteRef": {
                    "key": remote_key(platform, args.secret_name),
                    "property": source.key,
                },
            }
        )
    return kube(
        k8s.apiextensions.CustomResource,
        name,
        opts=pulumi.ResourceOptions.merge(
            opts, pulumi.ResourceOptions(protect=False, retain_on_delete=False)
        ),
        api_version=EXTERNAL_SECRETS_API,
        kind="ExternalSecret",
        metadata=metadata,
        spec={
            "refreshInterval": "1h",
            "secretStoreRef": {"kind": "ClusterSecretStore", "name": platform.secret_store},
            "target": {
                "name": platform.name(component),
                "creationPolicy": "Owner",
                "template": {"type": "Opaque", "data": template},
            },
            "data": remote,
        },
    )
