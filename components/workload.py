"""The workload pattern every tier uses: secure and available by default, overridable per workload.

A `Workload` is a Deployment or StatefulSet with its ServiceAccount (token not mounted), Services,
optional ConfigMap (pods roll when it changes), PodDisruptionBudget, HorizontalPodAutoscaler and
NetworkPolicy. The pure `*_manifest` builders make the objects testable without the Pulumi engine.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import pulumi
import pulumi_kubernetes as k8s

from components.graph import DependencyGraph, Node, ServicePort
from components.kube import kube
from components.naming import fullname, recommended_labels, selector_labels
from components.network import NetworkAccess, Peer, access_from_graph, workload_policy_spec
from components.scrape import ScrapeTarget, targets_from_workload

Manifest = dict[str, Any]

# A high UID/GID outside any image's system range; images that need another set `security`.
DEFAULT_UID = 10001


@dataclass(frozen=True)
class Platform:
    """What every tier needs to know about the stack, without knowing which stack it is."""

    release: str
    namespace: pulumi.Input[str]
    version: str
    image_pull_policy: str = "IfNotPresent"
    spread_across_nodes: bool = False
    protect_data: bool = False
    monitoring_namespace: str | None = None
    # OTLP collector every workload reports traces and metrics to (None: tracing off).
    otlp_endpoint: str | None = None
    # Where public traffic enters (mesh ingress gateway or ingress controller pods).
    public_entry: Peer | None = None
    # Components kept out of the service mesh (component name, or its prefix before `-<n>`);
    # stacks.graph.mesh_opt_out resolves `mesh.optOut`'s graph names to them.
    mesh_opt_out: tuple[str, ...] = ()
    # Whether the namespace is in the service mesh: announced app ports are then scraped through
    # the sidecar's merged-metrics port (components/scrape.py).
    mesh: bool = False
    # ClusterSecretStore credentials come from (External Secrets); None: generated here.
    secret_store: str | None = None

    def name(self, component: str) -> str:
        return fullname(self.release, component)

    def node(
        self,
        component: str,
        ports: tuple[ServicePort, ...] = (),
        *,
        name: str | None = None,
        **fields: Any,
    ) -> Node:
        """`component`'s graph node: its Service name, pod selector and service account, as the
        Workload creates them (no ports: a caller only, such as a Job)."""
        return Node(
            name=name or component,
            host=self.name(component),
            ports=ports,
            selector=self.selector(component),
            service_account=self.name(component),
            component=component,
            **fields,
        )

    def out_of_mesh(self, component: str) -> bool:
        """Whether the Kubernetes component (a Node's `component`, never its graph name) is kept
        out of the mesh."""
        return any(component == c or component.startswith(f"{c}-") for c in self.mesh_opt_out)

    def access(
        self,
        graph: DependencyGraph,
        component: str,
        *,
        scrape_ports: tuple[ServicePort, ...] = (),
        peer_ports: tuple[ServicePort, ...] = (),
    ) -> NetworkAccess:
        """The graph's network rules for `component`, with this platform's scrape and entry."""
        return access_from_graph(
            graph,
            component,
            scrape_ports=scrape_ports,
            monitoring_namespace=self.monitoring_namespace,
            public_entry=self.public_entry,
            peer_ports=peer_ports,
        )

    def labels(self, component: str, tier: str | None = None) -> dict[str, str]:
        return recommended_labels(self.release, component, self.version, tier)

    def selector(self, component: str) -> dict[str, str]:
        return selector_labels(self.release, component)

    def metadata(
        self, component: str, name: str | None = None, tier: str | None = None, **extra: Any
    ) -> Manifest:
        """Object metadata with an explicit name (no auto-naming) and the recommended labels."""
        meta: Manifest = {
            "name": name or self.name(component),
            "namespace": self.namespace,
            "labels": self.labels(component, tier),
        }
        meta.update(extra)
        return meta


@dataclass(frozen=True)
class Resources:
    """Requests and limits, always both: the namespace quota counts them and the seeds size them."""

    cpu_request: str
    memory_request: str
    cpu_limit: str
    memory_limit: str

    def manifest(self) -> Manifest:
        return {
            "requests": {"cpu": self.cpu_request, "memory": self.memory_request},
            "limits": {"cpu": self.cpu_limit, "memory": self.memory_limit},
        }


@dataclass(frozen=True)
class Probe:
    """One probe: HTTP GET `path`, gRPC health, exec `command`, or TCP connect on `port`."""

    port: int | str | None = None
    path: str | None = None
    command: tuple[str, ...] | None = None
    grpc: bool = False
    initial_delay: int = 0
    period: int = 10
    timeout: int = 3
    failure_threshold: int = 3

    def manifest(self) -> Manifest:
        handler: Manifest
        if self.command is not None:
            handler = {"exec": {"command": list(self.command)}}
        elif self.grpc:
            handler = {"grpc": {"port": self.port}}
        elif self.path is not None:
            handler = {"httpGet": {"path": self.path, "port": self.port}}
        else:
            handler = {"tcpSocket": {"port": self.port}}
        return {
            **handler,
            "initialDelaySeconds": self.initial_delay,
            "periodSeconds": self.period,
            "timeoutSeconds": self.timeout,
            "failureThreshold": self.failure_threshold,
        }


@dataclass(frozen=True)
class Probes:
    liveness: Probe
    readiness: Probe
    startup: Probe | None = None

    def manifest(self) -> Manifest:
        probes = {
            "livenessProbe": self.liveness.manifest(),
            "readinessProbe": self.readiness.manifest(),
        }
        if self.startup is not None:
            probes["startupProbe"] = self.startup.manifest()
        return probes


def http_probes(port: int | str, liveness: str, readiness: str | None = None) -> Probes:
    """The common HTTP shape: startup allows a slow first start, then liveness and readiness."""
    return Probes(
        startup=Probe(port=port, path=liveness, period=5, failure_threshold=30),
        liveness=Probe(port=port, path=liveness, initial_delay=0, period=10),
        readiness=Probe(port=port, path=readiness or liveness, period=5),
    )


@dataclass(frozen=True)
class Mount:
    volume: str
    path: str
    sub_path: str | None = None
    read_only: bool = False

    def manifest(self) -> Manifest:
        mount: Manifest = {"name": self.volume, "mountPath": self.path}
        if self.sub_path:
            mount["subPath"] = self.sub_path
        if self.read_only:
            mount["readOnly"] = True
        return mount


@dataclass(frozen=True)
class Scratch:
    """An emptyDir for paths a read-only root filesystem still has to write."""

    name: str
    path: str
    memory: bool = False
    size_limit: str | None = None

    def volume(self) -> Manifest:
        empty: Manifest = {}
        if self.memory:
            empty["medium"] = "Memory"
        if self.size_limit:
            empty["sizeLimit"] = self.size_limit
        return {"name": self.name, "emptyDir": empty}


@dataclass(frozen=True)
class VolumeClaim:
    """A per-replica volume claim template of a StatefulSet."""

    name: str
    path: str
    size: str
    storage_class: str | None = None
    sub_path: str | None = None


@dataclass(frozen=True)
class SecretEnv:
    """An environment variable read from a Secret key, so the value never sits in the spec."""

    secret: pulumi.Input[str]
    key: str
    optional: bool = False


@dataclass(frozen=True)
class FieldEnv:
    """An environment variable from the pod's own fields, e.g. `metadata.name`."""

    path: str


EnvValue = pulumi.Input[str] | SecretEnv | FieldEnv


@dataclass(frozen=True)
class Security:
    """Restricted pod security; override only what an image really needs."""

    run_as_user: int = DEFAULT_UID
    run_as_group: int = DEFAULT_UID
    fs_group: int | None = DEFAULT_UID
    read_only_root_filesystem: bool = True

    def pod(self) -> Manifest:
        ctx: Manifest = {
            "runAsNonRoot": True,
            "runAsUser": self.run_as_user,
            "runAsGroup": self.run_as_group,
            "seccompProfile": {"type": "RuntimeDefault"},
        }
        if self.fs_group is not None:
            ctx["fsGroup"] = self.fs_group
            ctx["fsGroupChangePolicy"] = "OnRootMismatch"
        return ctx

    def container(self) -> Manifest:
        return {
            "runAsNonRoot": True,
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": self.read_only_root_filesystem,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        }


@dataclass(frozen=True)
class Container:
    """A container of the pod (main, sidecar or init)."""

    name: str
    image: str
    resources: Resources
    command: tuple[str, ...] | None = None
    args: tuple[pulumi.Input[str], ...] | None = None
    env: Mapping[str, EnvValue] = field(default_factory=dict)
    env_from_config: bool = False
    ports: tuple[ServicePort, ...] = ()
    probes: Probes | None = None
    mounts: tuple[Mount, ...] = ()
    pre_stop: tuple[str, ...] | None = None
    # Sidecars restart with the pod as init containers with restartPolicy Always (native sidecars).
    security: Security | None = None


@dataclass(frozen=True)
class Autoscaling:
    """HorizontalPodAutoscaler; when present `spec.replicas` is left to it after creation."""

    min_replicas: int
    max_replicas: int
    cpu_percent: int | None = None
    memory_percent: int | None = None
    pods_metrics: Mapping[str, str] = field(default_factory=dict)
    external_metrics: Mapping[str, str] = field(default_factory=dict)
    scale_up_window: int | None = None
    scale_down_window: int | None = None


@dataclass(frozen=True)
class ServiceSpec:
    """The client Service; StatefulSets also get `{name}-headless` for stable pod DNS."""

    type: Literal["ClusterIP", "LoadBalancer"] = "ClusterIP"
    ports: tuple[ServicePort, ...] | None = None  # default: the main container's ports
    publish_not_ready: bool = False
    annotations: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class WorkloadArgs:
    platform: Platform
    component: str
    main: Container
    tier: str | None = None
    kind: Literal["Deployment", "StatefulSet"] = "Deployment"
    replicas: int = 1
    config: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    config_mount: str | None = None  # mount the ConfigMap as files here instead of env
    sidecars: tuple[Container, ...] = ()
    init_containers: tuple[Container, ...] = ()
    scratch: tuple[Scratch, ...] = (Scratch("tmp", "/tmp"),)
    volume_claims: tuple[VolumeClaim, ...] = ()
    extra_volumes: tuple[Manifest, ...] = ()
    service: ServiceSpec | None = field(default_factory=ServiceSpec)
    autoscaling: Autoscaling | None = None
    network: NetworkAccess | None = None
    security: Security = field(default_factory=Security)
    pod_annotations: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    termination_grace_seconds: int = 30
    # RollingUpdate surges first and never drops below the desired count; Recreate is for
    # singletons that must never run twice (an engine shard owning its order books).
    rollout: Literal["RollingUpdate", "Recreate"] = "RollingUpdate"
    pod_management_policy: Literal["OrderedReady", "Parallel"] = "OrderedReady"
    spread: Literal["soft", "hard"] = "soft"
    node_selector: Mapping[str, str] = field(default_factory=dict)
    tolerations: tuple[Manifest, ...] = ()
    affinity: Manifest | None = None
    automount_token: bool = False
    # Extra inputs whose change must roll the pods (e.g. a mounted Secret's version).
    rollout_inputs: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    # What the pods need before they start (e.g. the Secret they mount): only the Deployment or
    # StatefulSet waits for it, so the Service, account and policies are created meanwhile.
    start_after: tuple[pulumi.Resource, ...] = ()

    @property
    def name(self) -> str:
        return self.platform.name(self.component)

    @property
    def selector(self) -> dict[str, str]:
        return self.platform.selector(self.component)


def _env(env: Mapping[str, EnvValue]) -> list[Manifest]:
    out: list[Manifest] = []
    for key, value in env.items():
        if isinstance(value, SecretEnv):
            ref: Manifest = {"name": value.secret, "key": value.key}
            if value.optional:
                ref["optional"] = True
            out.append({"name": key, "valueFrom": {"secretKeyRef": ref}})
        elif isinstance(value, FieldEnv):
            out.append({"name": key, "valueFrom": {"fieldRef": {"fieldPath": value.path}}})
        else:
            out.append({"name": key, "value": value})
    return out


def container_manifest(
    container: Container, pod_security: Security, pull_policy: str, config_map: str | None
) -> Manifest:
    security = container.security or pod_security
    context = security.container()
    if (security.run_as_user, security.run_as_group) != (
        pod_security.run_as_user,
        pod_security.run_as_group,
    ):
        # A container whose image runs as another user than the pod's (e.g. a sidecar that can
        # take a high UID beside a server that cannot); the pod's fsGroup still applies to it.
        context.update(runAsUser=security.run_as_user, runAsGroup=security.run_as_group)
    spec: Manifest = {
        "name": container.name,
        "image": container.image,
        "imagePullPolicy": pull_policy,
        "resources": container.resources.manifest(),
        "securityContext": context,
    }
    if container.command is not None:
        spec["command"] = list(container.command)
    if container.args is not None:
        spec["args"] = list(container.args)
    if container.env:
        spec["env"] = _env(container.env)
    if container.env_from_config and config_map:
        spec["envFrom"] = [{"configMapRef": {"name": config_map}}]
    if container.ports:
        spec["ports"] = [
            {"name": p.name, "containerPort": p.port, "protocol": p.protocol}
            for p in container.ports
        ]
    if container.probes is not None:
        spec.update(container.probes.manifest())
    if container.mounts:
        spec["volumeMounts"] = [m.manifest() for m in container.mounts]
    if container.pre_stop:
        spec["lifecycle"] = {"preStop": {"exec": {"command": list(container.pre_stop)}}}
    return spec


def wait_for_container(
    name: str, image: str, resources: Resources, targets: Sequence[tuple[str, int]]
) -> Container:
    """An init container that blocks until every `(host, port)` accepts TCP connections
    (the startup order the dependency graph implies)."""
    if len(targets) == 1:
        ((host, port),) = targets
        script = (
            f'until nc -z -w 2 {host} {port}; do echo "waiting for {host}:{port}"; sleep 2; done'
        )
    else:
        listed = " ".join(f"{host}:{port}" for host, port in targets)
        script = (
            f"for target in {listed}; do "
            'until nc -z -w 2 "${target%:*}" "${target##*:}"; do '
            'echo "waiting for $target"; sleep 2; done; done'
        )
    return Container(name=name, image=image, resources=resources, command=("sh", "-c", script))


def config_checksum(values: Mapping[str, Any]) -> str:
    """Stable digest of resolved config values; a change rolls the pods."""
    payload = json.dumps(values, sort_keys=True, default=str).encode()
    return hashlib.sha256(payload).hexdigest()


def otel_env(args: WorkloadArgs) -> dict[str, EnvValue]:
    """OpenTelemetry SDK settings for the main container, when the platform has a collector."""
    if args.platform.otlp_endpoint is None:
        return {}
    return {
        "OTEL_EXPORTER_OTLP_ENDPOINT": args.platform.otlp_endpoint,
        # The endpoint is the collector's gRPC port; SDKs default to HTTP otherwise.
        "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
        "OTEL_SERVICE_NAME": args.component,
        "OTEL_RESOURCE_ATTRIBUTES": f"service.namespace={args.platform.release}",
    }


def pod_template(args: WorkloadArgs, checksum: pulumi.Input[str] | None) -> Manifest:
    """The pod template: labels are the selector only, so adopting Helm's pods restarts nothing."""
    platform = args.platform
    config_map = args.name if args.config else None
    scratch_mounts = tuple(Mount(s.name, s.path) for s in args.scratch)
    claim_mounts = tuple(Mount(c.name, c.path, c.sub_path) for c in args.volume_claims)
    main_mounts = scratch_mounts + claim_mounts + args.main.mounts
    if args.config and args.config_mount:
        main_mounts += (Mount("config", args.config_mount, read_only=True),)
    main = replace(args.main, mounts=main_mounts, env={**otel_env(args), **args.main.env})

    def build(c: Container) -> Manifest:
        return container_manifest(c, args.security, platform.image_pull_policy, config_map)

    volumes = [s.volume() for s in args.scratch]
    if args.config and args.config_mount:
        volumes.append({"name": "config", "configMap": {"name": config_map}})
    volumes.extend(args.extra_volumes)
    # A container may mount only what the pod has (e.g. an init container the pod's `tmp`).
    known = {v["name"] for v in volumes} | {c.name for c in args.volume_claims}
    for c in (main, *args.sidecars, *args.init_containers):
        for mount in c.mounts:
            if mount.volume not in known:
                raise ValueError(
                    f"{args.name}: container {c.name} mounts {mount.volume!r}; "
                    f"the pod's volumes are {', '.join(sorted(known))}"
                )

    spec: Manifest = {
        "serviceAccountName": args.name,
        "automountServiceAccountToken": args.automount_token,
        "enableServiceLinks": False,
        "securityContext": args.security.pod(),
        "terminationGracePeriodSeconds": args.termination_grace_seconds,
        "containers": [build(main)] + [build(s) for s in args.sidecars],
        "volumes": volumes,
    }
    if args.init_containers:
        spec["initContainers"] = [build(c) for c in args.init_containers]
    if args.node_selector:
        spec["nodeSelector"] = dict(args.node_selector)
    if args.tolerations:
        spec["tolerations"] = list(args.tolerations)
    if args.affinity:
        spec["affinity"] = args.affinity
    replicas = max(args.replicas, args.autoscaling.min_replicas if args.autoscaling else 0)
    if platform.spread_across_nodes and replicas > 1:
        spec["topologySpreadConstraints"] = [
            {
                "maxSkew": 1,
                "topologyKey": "kubernetes.io/hostname",
                "whenUnsatisfiable": "DoNotSchedule" if args.spread == "hard" else "ScheduleAnyway",
                "labelSelector": {"matchLabels": args.selector},
            }
        ]
    annotations: Manifest = dict(args.pod_annotations)
    if checksum is not None:
        annotations["checksum/config"] = checksum
    metrics_ports = sorted(
        p.port for c in (args.main, *args.sidecars) for p in c.ports if p.name == "metrics"
    )
    if metrics_ports:
        # Scrapes reach a dedicated metrics port directly (the NetworkPolicy still limits them
        # to the monitoring namespace); with Istio it would otherwise demand mTLS.
        annotations["traffic.sidecar.istio.io/excludeInboundPorts"] = ",".join(
            str(p) for p in metrics_ports
        )
    labels = dict(args.selector)
    if platform.out_of_mesh(args.component):
        # Sidecar mode reads the annotation, ambient mode the label.
        annotations["sidecar.istio.io/inject"] = "false"
        labels["istio.io/dataplane-mode"] = "none"
    metadata: Manifest = {"labels": labels}
    if annotations:
        metadata["annotations"] = annotations
    return {"metadata": metadata, "spec": spec}


def workload_spec(args: WorkloadArgs, checksum: pulumi.Input[str] | None) -> Manifest:
    """Deployment or StatefulSet spec."""
    spec: Manifest = {
        "replicas": args.autoscaling.min_replicas if args.autoscaling else args.replicas,
        "selector": {"matchLabels": args.selector},
        "template": pod_template(args, checksum),
        "revisionHistoryLimit": 5,
    }
    if args.kind == "Deployment":
        if args.rollout == "Recreate":
            spec["strategy"] = {"type": "Recreate"}
        else:
            # Surge first, never below the desired count during a rollout.
            spec["strategy"] = {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
            }
        return spec
    spec["serviceName"] = f"{args.name}-headless"
    spec["podManagementPolicy"] = args.pod_management_policy
    spec["updateStrategy"] = {"type": "RollingUpdate"}
    if args.volume_claims:
        spec["volumeClaimTemplates"] = [
            {
                "metadata": {"name": c.name, "labels": args.selector},
                "spec": {
                    "accessModes": ["ReadWriteOnce"],
                    "resources": {"requests": {"storage": c.size}},
                    **({"storageClassName": c.storage_class} if c.storage_class else {}),
                },
            }
            for c in args.volume_claims
        ]
        policy = "Retain" if args.platform.protect_data else "Delete"
        spec["persistentVolumeClaimRetentionPolicy"] = {
            "whenDeleted": policy,
            "whenScaled": "Retain",
        }
    return spec


def service_ports(ports: Sequence[ServicePort]) -> list[Manifest]:
    # Numeric target ports: adopted Helm pods keep their endpoints whatever they named ports.
    return [
        {"name": p.name, "port": p.port, "targetPort": p.port, "protocol": p.protocol}
        for p in ports
    ]


def autoscaler_spec(args: WorkloadArgs) -> Manifest:
    hpa = args.autoscaling
    assert hpa is not None
    metrics: list[Manifest] = []
    for resource, percent in (("cpu", hpa.cpu_percent), ("memory", hpa.memory_percent)):
        if percent is not None:
            metrics.append(
                {
                    "type": "Resource",
                    "resource": {
                        "name": resource,
                        "target": {"type": "Utilization", "averageUtilization": percent},
                    },
                }
            )
    for metric, value in hpa.pods_metrics.items():
        metrics.append(
            {
                "type": "Pods",
                "pods": {
                    "metric": {"name": metric},
                    "target": {"type": "AverageValue", "averageValue": value},
                },
            }
        )
    for metric, value in hpa.external_metrics.items():
        metrics.append(
            {
                "type": "External",
                "external": {
                    "metric": {"name": metric},
                    "target": {"type": "AverageValue", "averageValue": value},
                },
            }
        )
    spec: Manifest = {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": args.kind, "name": args.name},
        "minReplicas": hpa.min_replicas,
        "maxReplicas": hpa.max_replicas,
        "metrics": metrics,
    }
    behavior: Manifest = {}
    if hpa.scale_up_window is not None:
        behavior["scaleUp"] = {"stabilizationWindowSeconds": hpa.scale_up_window}
    if hpa.scale_down_window is not None:
        behavior["scaleDown"] = {"stabilizationWindowSeconds": hpa.scale_down_window}
    if behavior:
        spec["behavior"] = behavior
    return spec


class Workload(pulumi.ComponentResource):
    """Deployment/StatefulSet with ServiceAccount, Services, ConfigMap, PDB, HPA, NetworkPolicy."""

    workload: k8s.apps.v1.Deployment | k8s.apps.v1.StatefulSet
    service: k8s.core.v1.Service | None
    host: str
    name: str

    def __init__(
        self, name: str, args: WorkloadArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("trading:workload:Workload", name, None, opts)
        platform = args.platform
        self.name = args.name
        self.host = args.name
        child = pulumi.ResourceOptions(parent=self)
        labels_meta = platform.metadata(args.component, tier=args.tier)

        self.service_account = kube(
            k8s.core.v1.ServiceAccount,
            f"{name}-sa",
            metadata=labels_meta,
            automount_service_account_token=args.automount_token,
            opts=child,
        )

        checksum: pulumi.Output[str] | None = None
        depends: list[pulumi.Resource] = [self.service_account, *args.start_after]
        if args.config:
            self.config_map = kube(
                k8s.core.v1.ConfigMap,
                f"{name}-config",
                metadata=labels_meta,
                data=dict(args.config),
                opts=child,
            )
            depends.append(self.config_map)
        if args.config or args.rollout_inputs:
            checksum = pulumi.Output.from_input(
                {"config": dict(args.config), "rollout": dict(args.rollout_inputs)}
            ).apply(config_checksum)

        spec = workload_spec(args, checksum)
        data_opts = pulumi.ResourceOptions(parent=self, depends_on=depends)
        if args.autoscaling is not None:
            # The HPA owns the replica count after creation.
            data_opts = pulumi.ResourceOptions.merge(
                data_opts, pulumi.ResourceOptions(ignore_changes=["spec.replicas"])
            )
        if args.kind == "StatefulSet":
            if args.volume_claims and platform.protect_data:
                data_opts = pulumi.ResourceOptions.merge(
                    data_opts, pulumi.ResourceOptions(protect=True, retain_on_delete=True)
                )
            self.headless = kube(
                k8s.core.v1.Service,
                f"{name}-headless",
                metadata=platform.metadata(
                    args.component, name=f"{args.name}-headless", tier=args.tier
                ),
                spec={
                    "clusterIP": "None",
                    "publishNotReadyAddresses": True,
                    "selector": args.selector,
                    "ports": service_ports(args.main.ports),
                },
                opts=child,
            )
            self.workload = kube(
                k8s.apps.v1.StatefulSet, name, metadata=labels_meta, spec=spec, opts=data_opts
            )
        else:
            self.workload = kube(
                k8s.apps.v1.Deployment, name, metadata=labels_meta, spec=spec, opts=data_opts
            )

        self.service = None
        if args.service is not None:
            svc = args.service
            svc_meta = platform.metadata(args.component, tier=args.tier)
            if svc.annotations:
                svc_meta["annotations"] = dict(svc.annotations)
            svc_spec: Manifest = {
                "type": svc.type,
                "selector": args.selector,
                "ports": service_ports(svc.ports or args.main.ports),
            }
            if svc.publish_not_ready:
                svc_spec["publishNotReadyAddresses"] = True
            self.service = kube(
                k8s.core.v1.Service, f"{name}-svc", metadata=svc_meta, spec=svc_spec, opts=child
            )

        min_pods = args.autoscaling.min_replicas if args.autoscaling else args.replicas
        if min_pods >= 2:
            kube(
                k8s.policy.v1.PodDisruptionBudget,
                f"{name}-pdb",
                metadata=labels_meta,
                spec={"maxUnavailable": 1, "selector": {"matchLabels": args.selector}},
                opts=child,
            )
        if args.autoscaling is not None:
            kube(
                k8s.autoscaling.v2.HorizontalPodAutoscaler,
                f"{name}-hpa",
                metadata=labels_meta,
                spec=autoscaler_spec(args),
                opts=child,
            )
        if args.network is not None:
            kube(
                k8s.networking.v1.NetworkPolicy,
                f"{name}-netpol",
                metadata=labels_meta,
                spec=workload_policy_spec(args.selector, args.network),
                opts=child,
            )
        # What Prometheus scrapes of these pods; the tier hands it on (`scrape_targets`).
        self.scrape_targets = tuple(targets_from_workload(labels_meta, spec, platform.mesh))
        self.register_outputs({"name": self.name, "host": self.host})


def scrape_targets(*workloads: Workload) -> tuple[ScrapeTarget, ...]:
    """A tier's scrape targets: those of its workloads, in order."""
    return tuple(target for workload in workloads for target in workload.scrape_targets)
