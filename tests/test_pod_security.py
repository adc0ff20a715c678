"""Every pod the platform declares passes Pod Security Standards `restricted`, runs without an
API token, and no RBAC is granted (no workload needs the Kubernetes API)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from tools.offline import Recording

RESTRICTED_VOLUMES = {
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
}


def pod_specs(recording: Recording) -> Iterator[tuple[str, dict[str, Any]]]:
    for kind in ("Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob"):
        for registration in recording.of_kind(kind):
            spec = registration.manifest()["spec"]
            if kind == "CronJob":
                spec = spec["jobTemplate"]["spec"]
            yield f"{kind}/{registration.object_name}", spec["template"]["spec"]


def test_every_pod_passes_the_restricted_profile(stack: Recording) -> None:
    checked = 0
    for name, pod in pod_specs(stack):
        pod_ctx = pod.get("securityContext", {})
        assert not pod.get("hostNetwork") and not pod.get("hostPID") and not pod.get("hostIPC")
        for volume in pod.get("volumes", []):
            kinds = set(volume) - {"name"}
            assert kinds <= RESTRICTED_VOLUMES, f"{name}: volume {volume['name']} is {kinds}"
        for container in pod["containers"] + pod.get("initContainers", []):
            ctx = container.get("securityContext", {})
            where = f"{name}/{container['name']}"
            assert ctx.get("allowPrivilegeEscalation") is False, where
            assert not ctx.get("privileged"), where
            assert ctx.get("capabilities", {}).get("drop") == ["ALL"], where
            assert not ctx.get("capabilities", {}).get("add"), where
            assert (ctx.get("runAsNonRoot") or pod_ctx.get("runAsNonRoot")) is True, where
            assert ctx.get("runAsUser", pod_ctx.get("runAsUser", 1)) != 0, where
            seccomp = ctx.get("seccompProfile") or pod_ctx.get("seccompProfile") or {}
            assert seccomp.get("type") in ("RuntimeDefault", "Localhost"), where
            assert ctx.get("readOnlyRootFilesystem") is True, where
            checked += 1
    assert checked >= 20


# The containers that may run below UID 10000, each with the reason
# (components/datastores/postgres.py POSTGRES_SECURITY, docs/data-stores.md): (workload,
# container) -> UID.
LOW_UID_EXCEPTIONS = {
    # The official image's postgres user: socket peer auth looks the UID up in its /etc/passwd,
    # and existing data directories are owned by 70.
    ("StatefulSet/aegis-trader-postgres", "postgres"): 70,
}


def test_every_container_runs_with_a_high_uid_except_the_named_ones(stack: Recording) -> None:
    """DESIGN: non-root with a UID >= 10000 wherever the image allows; the exceptions are named."""
    low = {}
    for name, pod in pod_specs(stack):
        pod_uid = pod.get("securityContext", {}).get("runAsUser")
        for container in pod["containers"] + pod.get("initContainers", []):
            uid = container.get("securityContext", {}).get("runAsUser", pod_uid)
            assert uid is not None, f"{name}/{container['name']} has no runAsUser"
            if uid < 10000:
                low[(name, container["name"])] = uid
    assert low == LOW_UID_EXCEPTIONS


def test_no_pod_mounts_an_api_token_and_no_rbac_is_granted(stack: Recording) -> None:
    for name, pod in pod_specs(stack):
        assert pod.get("automountServiceAccountToken") is False, name
    for account in stack.of_kind("ServiceAccount"):
        assert account.manifest().get("automountServiceAccountToken") is False, account.object_name
    granted = [
        r.kind
        for r in stack.kubernetes_objects()
        if r.kind in ("Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding")
    ]
    assert granted == []


def test_names_and_mount_paths_are_unique_where_the_api_server_requires(stack: Recording) -> None:
    """Uniqueness rules the JSON schemas can't express (the API server would reject the pod)."""
    for name, pod in pod_specs(stack):
        containers = pod["containers"] + pod.get("initContainers", [])
        names = [c["name"] for c in containers]
        assert len(names) == len(set(names)), name
        volumes = [v["name"] for v in pod.get("volumes", [])]
        assert len(volumes) == len(set(volumes)), name
        for container in containers:
            paths = [m["mountPath"] for m in container.get("volumeMounts", [])]
            assert len(paths) == len(set(paths)), f"{name}/{container['name']}: {paths}"
            ports = [p.get("name") for p in container.get("ports", []) if p.get("name")]
            assert len(ports) == len(set(ports)), f"{name}/{container['name']}"
