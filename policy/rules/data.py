"""Data protection: in production, volume claims are protected and kept."""

from __future__ import annotations

from collections.abc import Sequence

from .model import ENVIRONMENT_CONFIG, Resource, Rule, Settings, Violation, dig, is_unknown, present


def check_data_protected(resources: Sequence[Resource], settings: Settings) -> list[Violation]:
    if not settings.production:
        return []
    out = []
    for r in resources:
        if r.third_party:
            continue
        if r.is_("apps", "StatefulSet"):
            claims = dig(r.props, "spec", "volumeClaimTemplates")
            if not present(claims) or is_unknown(claims):
                continue
            if not r.protect:
                out.append(
                    PROTECT_DATA.violation(
                        r, "holds volume claims in production but is not protected"
                    )
                )
            retention = dig(r.props, "spec", "persistentVolumeClaimRetentionPolicy", "whenDeleted")
            if retention == "Delete":
                out.append(
                    PROTECT_DATA.violation(
                        r,
                        "deletes its volume claims with the StatefulSet "
                        "(persistentVolumeClaimRetentionPolicy.whenDeleted: Delete)",
                        "set persistentVolumeClaimRetentionPolicy.whenDeleted: Retain "
                        "(cluster.protectData: true does)",
                    )
                )
        elif r.is_("core", "PersistentVolumeClaim") and not r.protect:
            out.append(PROTECT_DATA.violation(r, "is a volume claim in production, not protected"))
    return out


PROTECT_DATA = Rule(
    "protect-data-in-production",
    "In production, StatefulSets with volume claims and PersistentVolumeClaims are protected "
    "and keep their claims.",
    "set cluster.protectData: true for the stack (protect + retainOnDelete + PVC retention "
    "Retain), or pass protect=True to the resource",
    mandatory=True,
    stack_check=check_data_protected,
    config=ENVIRONMENT_CONFIG,
)
