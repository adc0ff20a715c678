"""Snapshot and verification: what must survive the adoption, taken before `pulumi up` and
compared with the cluster after it."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from tools.adopt.manifests import _helm_revisions, dig, index
from tools.adopt.model import HELM_SECRET, RELEASE, SEED_000, Manifest, Problem, SeedObject


def snapshot(live_items: Sequence[Manifest], seed: Sequence[SeedObject] = SEED_000) -> Manifest:
    """What must survive the adoption: UIDs, Service IPs, volume claims, container restarts."""
    live = index(live_items)
    objects = {}
    for obj in seed:
        item = live.get((obj.kind, obj.name))
        if item is not None:
            objects[f"{obj.kind}/{obj.name}"] = {
                "uid": dig(item, "metadata", "uid"),
                "clusterIP": dig(item, "spec", "clusterIP"),
                "managedBy": dig(item, "metadata", "labels", "app.kubernetes.io/managed-by"),
            }
    claims = {
        dig(i, "metadata", "name"): {
            "uid": dig(i, "metadata", "uid"),
            "volume": dig(i, "spec", "volumeName"),
        }
        for i in live_items
        if i.get("kind") == "PersistentVolumeClaim"
    }
    pods = {
        dig(i, "metadata", "name"): {
            "uid": dig(i, "metadata", "uid"),
            "restarts": {
                s.get("name"): s.get("restartCount", 0)
                for s in dig(i, "status", "containerStatuses") or []
            },
        }
        for i in live_items
        if i.get("kind") == "Pod"
    }
    return {
        "objects": objects,
        "claims": claims,
        "pods": pods,
        "helmRevisions": _helm_revisions(live_items),
    }


def verify(
    before: Manifest, after: Manifest, recreated: Iterable[str] = ()
) -> tuple[list[Problem], list[str]]:
    """Problems (the adoption went wrong) and notes (what rolled or was replaced, as planned).
    `recreated`: objects (`StatefulSet/<name>`) replaced on purpose with --cascade=orphan."""
    planned = set(recreated)
    problems: list[Problem] = []
    notes: list[str] = []
    for key, was in before["objects"].items():
        now = after["objects"].get(key)
        kind = key.split("/", 1)[0]
        if now is None:
            problems.append(Problem(key, "is gone", "restore it from the backup"))
            continue
        if now["uid"] != was["uid"]:
            if kind == "Job":
                notes.append(f"{key} was re-created (idempotent KV bucket Job, planned)")
            elif key in planned:
                notes.append(f"{key} was re-created without its pods (--recreate, planned)")
            else:
                problems.append(
                    Problem(key, "was deleted and re-created", "investigate the pulumi up log")
                )
        if was.get("clusterIP") and now.get("clusterIP") != was["clusterIP"]:
            problems.append(
                Problem(
                    key,
                    f"cluster IP changed {was['clusterIP']} -> {now.get('clusterIP')}",
                    "clients using the IP must re-resolve",
                )
            )
        if now.get("managedBy") != "pulumi" and kind != "Job":
            problems.append(
                Problem(
                    key,
                    f"is labelled managed-by {now.get('managedBy')!r}",
                    "run pulumi up with adoptExisting: true",
                )
            )
    for name, was in before["claims"].items():
        now = after["claims"].get(name)
        if now is None or now["uid"] != was["uid"] or now["volume"] != was["volume"]:
            problems.append(
                Problem(
                    f"PersistentVolumeClaim {name}",
                    "was deleted or re-created",
                    "restore the data from the volume (it is retained) or the backup",
                )
            )
    replaced = 0
    for name, was in before["pods"].items():
        now = after["pods"].get(name)
        if now is None or now["uid"] != was["uid"]:
            replaced += 1
            continue
        for container, count in now["restarts"].items():
            old = was["restarts"].get(container, 0)
            if count > old:
                problems.append(
                    Problem(
                        f"Pod {name}",
                        f"container {container!r} restarted ({old} -> {count})",
                        "read `kubectl logs --previous` for why",
                    )
                )
    if replaced:
        notes.append(f"{replaced} pod(s) replaced by rolling updates (their templates changed)")
    if after["helmRevisions"]:
        problems.append(
            Problem(
                f"Helm release {RELEASE}",
                f"is still recorded (revisions {after['helmRevisions']})",
                f"delete its release secrets, e.g. `kubectl delete secret {HELM_SECRET}`",
            )
        )
    return problems, notes
