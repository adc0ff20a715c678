"""A pod's containers: resources, probes, mounts, scratch space, volume claims, environment,
restricted security, and the container manifest built from them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi

from components.graph import ServicePort
from components.workload.platform import Manifest

# A high UID/GID outside any image's system range; images that need another set `security`.
DEFAULT_UID = 10001


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
