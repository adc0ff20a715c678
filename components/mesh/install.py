"""Istio from its Helm charts: base -> cni -> istiod -> (ztunnel) -> gateway, each waiting for
the one before, in two namespaces of their own. Static values are files in `values/`."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from components.datafiles import read_yaml
from components.kube import kube
from components.merge import deep_merge
from components.mesh.args import MeshArgs
from components.mesh.policies import GATEWAY_RELEASE
from components.workload import Manifest

RELEASE_TIMEOUT = 600
# istiod's `autoscaleMax` and the gateway's `autoscaling.maxReplicas` in the Istio charts' values.
CHART_AUTOSCALE_MAX = 5


def install_istio(parent: pulumi.Resource, name: str, args: MeshArgs) -> list[pulumi.Resource]:
    """The charts, children of `parent`; returns them in install order."""
    install = args.install
    assert install is not None
    platform, gateway_args = args.platform, args.gateway

    def namespace(logical: str, ns: str, pss: str) -> k8s.core.v1.Namespace:
        labels = platform.labels("istio", "service-mesh")
        labels["pod-security.kubernetes.io/enforce"] = pss
        return kube(
            k8s.core.v1.Namespace,
            logical,
            opts=pulumi.ResourceOptions(parent=parent),
            metadata={"name": ns, "labels": labels},
        )

    # The CNI node agent needs host paths: its namespace is the one privileged exception.
    system = namespace(f"{name}-system-ns", args.system_namespace, "privileged")
    ingress = namespace(f"{name}-ingress-ns", gateway_args.namespace, "baseline")
    profile = {"profile": "ambient"} if args.mode == "ambient" else {}

    # For the charts whose templates use it (cni, istiod, ztunnel): their zzz_profile.yaml
    # merges files/profile-platform-<name>.yaml (the CNI agent's host paths, OpenShift's
    # multus provider for istiod and SELinux type), istiod sets its PLATFORM variable and
    # ztunnel its OpenShift RBAC. Unknown names fail the install. base and gateway read none.
    platform_values: Manifest = (
        {"global": {"platform": install.platform}} if install.platform else {}
    )
    proxy = install.proxy_resources.manifest()

    def release(
        logical: str,
        chart: str,
        ns: str,
        values: Manifest,
        after: list[pulumi.Resource],
        wait: bool = True,
        timeout: int = RELEASE_TIMEOUT,
    ) -> k8s.helm.v3.Release:
        return k8s.helm.v3.Release(
            logical,
            name=chart if chart != "gateway" else GATEWAY_RELEASE,
            chart=chart,
            version=install.chart_version,
            repository_opts={"repo": install.chart_repo},
            namespace=ns,
            values=values,
            # atomic waits for readiness and rolls back on timeout; without it, skip_await.
            atomic=wait,
            skip_await=None if wait else True,
            timeout=timeout,
            opts=pulumi.ResourceOptions(parent=parent, depends_on=after),
        )

    base = release(f"{name}-base", "base", args.system_namespace, {}, [system])
    cni = release(
        f"{name}-cni",
        "cni",
        args.system_namespace,
        # The cni chart reads top-level `resources` and accepts requests only.
        deep_merge(profile, platform_values, {"resources": {"requests": proxy["requests"]}}),
        [base],
    )
    # Both charts autoscale from 1 to CHART_AUTOSCALE_MAX replicas; a cap lowers the maximum.
    cap = install.max_replicas_cap
    capped = None if cap is None else min(CHART_AUTOSCALE_MAX, cap)
    istiod_autoscale = {} if capped is None else {"pilot": {"autoscaleMax": capped}}
    gateway_autoscale = {} if capped is None else {"autoscaling": {"maxReplicas": capped}}
    istiod = release(
        f"{name}-istiod",
        "istiod",
        args.system_namespace,
        deep_merge(
            read_yaml(__file__, "values/istiod.yaml"),
            profile,
            platform_values,
            istiod_autoscale,
            {
                "pilot": {
                    "resources": install.istiod_resources.manifest(),
                    # Jobs finish with a sidecar only as a native sidecar (Kubernetes 1.29+);
                    # "true" on older clusters injects pods the API server rejects.
                    "env": {"ENABLE_NATIVE_SIDECARS": install.native_sidecars},
                },
                "global": {"proxy": {"resources": proxy}},
            },
        ),
        [cni],
    )
    chain: list[pulumi.Resource] = [istiod]
    if args.mode == "ambient":
        chain = [
            release(
                f"{name}-ztunnel",
                "ztunnel",
                args.system_namespace,
                deep_merge(platform_values, {"resources": proxy}),
                [istiod],
            )
        ]
    gateway = release(
        f"{name}-gateway",
        "gateway",
        gateway_args.namespace,
        deep_merge(
            read_yaml(__file__, "values/gateway.yaml"),
            gateway_autoscale,
            {
                "resources": gateway_args.resources.manifest(),
                "service": {"type": gateway_args.service_type},
            },
        ),
        [ingress, *chain],
        wait=gateway_args.wait,
        timeout=gateway_args.wait_timeout,
    )
    return [base, cni, istiod, *chain, gateway]
