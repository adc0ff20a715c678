"""Credentials every tier needs, from one building block.

`generated` (default): passwords from `pulumi_random`, kept in a Secret; they stay Pulumi secrets
end to end. `external` (seed 001's recommended option): an ExternalSecret makes the External
Secrets Operator build the same Secret from a ClusterSecretStore, and no value enters the state.
Either way consumers see a Secret named `secret_name` with the same keys.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from components.kube import kube
from components.workload import Platform

EXTERNAL_SECRETS_API = "external-secrets.io/v1"


@dataclass(frozen=True)
class CredentialArgs:
    platform: Platform
    component: str
    secret_name: str
    # Keys whose values are generated (or, externally, read from the store).
    generated: tuple[str, ...]
    # Keys with plain, non-secret values (e.g. a user name).
    fixed: Mapping[str, str] = field(default_factory=dict)
    length: int = 32
    refresh_interval: str = "1h"


def remote_key(platform: Platform, secret_name: str) -> str:
    """The store path an operator fills: `{release}/{secret}`, one property per key."""
    return f"{platform.release}/{secret_name}"


class Credentials(pulumi.ComponentResource):
    """A Secret of generated credentials, or the ExternalSecret that produces it."""

    name: str

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
        if platform.secret_store is None:
            values: dict[str, pulumi.Input[str]] = dict(args.fixed)
            for key in args.generated:
                password = random.RandomPassword(
                    f"{name}-{key}", length=args.length, special=False, opts=guarded
                )
                values[key] = password.result
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
