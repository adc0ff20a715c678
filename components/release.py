"""The release record: one ConfigMap that names the release, declared after every tier.

It depends on every object of the platform, so `pulumi destroy` must delete it before anything
else. Where data is protected (production) the record is protected too: a destroy stops at it
with nothing touched. Without it the engine would delete every unprotected object (Services,
Deployments, policies) and fail only at the protected ones, leaving production half torn down
(pulumi/pulumi#15896).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components.kube import kube
from components.workload import Platform

COMPONENT = "release"


@dataclass(frozen=True)
class ReleaseRecordArgs:
    platform: Platform
    # The tiers the record comes after (components stand for every object they hold).
    tiers: Sequence[pulumi.Resource]


class ReleaseRecord(pulumi.ComponentResource):
    """ConfigMap `{release}-release`: the release, its version, and how to remove the platform."""

    name: pulumi.Output[str]

    def __init__(
        self, name: str, args: ReleaseRecordArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("trading:platform:ReleaseRecord", name, None, opts)
        platform = args.platform
        record = kube(
            k8s.core.v1.ConfigMap,
            name,
            opts=pulumi.ResourceOptions(
                parent=self, depends_on=list(args.tiers), protect=platform.protect_data
            ),
            metadata=platform.metadata(COMPONENT),
            data={
                "release": platform.release,
                "version": platform.version,
                "protected": "true" if platform.protect_data else "false",
                "removal": "pulumi destroy deletes this record first; where it is protected, "
                "unprotect it (pulumi state unprotect) only when the whole platform is to go",
            },
        )
        self.name = record.metadata.name
        self.register_outputs({"name": self.name})
