"""The message bus: a NATS JetStream cluster with the service-registry KV bucket (seed 000).

Names, ports and selectors are seed 000's: StatefulSet and client Service `{release}-nats` (4222),
headless `{release}-nats-headless`, Job `{release}-create-kv-bucket`, Deployment
`{release}-nats-box`.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass

import pulumi

from components.datafiles import render
from components.endpoints import BusEndpoint
from components.graph import DependencyGraph, Node, ServicePort
from components.jobs import BatchArgs, job
from components.quantities import parse_bytes
from components.secrets import CredentialArgs, Credentials, DerivedKey
from components.workload import (
    Container,
    EnvValue,
    FieldEnv,
    Platform,
    Probe,
    Probes,
    Resources,
    Scratch,
    ServiceSpec,
    VolumeClaim,
    Workload,
    WorkloadArgs,
    scrape_targets,
)

COMPONENT = "nats"
CLIENT = ServicePort("client", 4222)
CLUSTER = ServicePort("cluster", 6222)
MONITOR = ServicePort("monitor", 8222)
METRICS = ServicePort("metrics", 7777)
CONFIG_DIR = "/etc/nats-config"
PID_FILE = "/var/run/nats/nats.pid"
NATS_USER = "trading"
# The server's credentials: a Secret key holding an `authorization` block, mounted beside the
# clients' files and included by nats.conf. nats-server resolves an include relative to the
# config file's directory, even an absolute one, hence the relative path.
AUTH_KEY = "auth.conf"
AUTH_FILE = "config/nats/auth.conf.tmpl"
AUTH_INCLUDE = posixpath.relpath(f"/run/secrets/nats/{AUTH_KEY}", CONFIG_DIR)
# nats-box saves a context with the credentials its script read from the mounted files.
CONTEXT_CREDENTIAL_FLAGS = '--user "$NATS_USER" --password "$NATS_PASSWORD" '


def nats_string(value: str) -> str:
    """A double-quoted NATS config string, read verbatim: `\\` and `"` escaped, nothing else
    interpreted (no `$VAR`, no number or unit parsing)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def auth_block(user: str) -> DerivedKey:
    """The Secret key `auth.conf`: `authorization { user, password }` from the generated
    password; the same text from the External Secrets template (sprig's `replace`)."""

    def block(password: str) -> str:
        return render(__file__, AUTH_FILE, user=nats_string(user), password=password)

    escaped = r'{{ .password | replace "\\" "\\\\" | replace "\"" "\\\"" }}'
    return DerivedKey(
        "password", lambda password: block(nats_string(password)), block(f'"{escaped}"')
    )


@dataclass(frozen=True)
class Storage:
    """Each server's JetStream volume (a claim per pod)."""

    size: str
    storage_class: str | None  # None: the cluster's default StorageClass


@dataclass(frozen=True)
class JetStream:
    max_memory_store: str
    # None: 90% of the volume, leaving room for the filesystem and compaction.
    max_file_store: str | None


@dataclass(frozen=True)
class NatsBox:
    """The nats CLI image (nats-box), also the KV Job's and the bucket waits'; `enabled` runs
    the nats-box Deployment for operators."""

    enabled: bool
    image: str
    resources: Resources


@dataclass(frozen=True)
class MessageBusArgs:
    platform: Platform
    graph: DependencyGraph
    image: str
    exporter_image: str
    replicas: int
    resources: Resources
    exporter_resources: Resources
    job_resources: Resources
    storage: Storage
    jetstream: JetStream
    bucket: str
    bucket_history: int
    auth: bool
    lame_duck_seconds: int
    nats_box: NatsBox


def gomemlimit(memory_limit: str) -> str:
    """7/8 of the container limit, leaving the Go runtime headroom: 8Gi -> 7GiB (seed 000)."""
    target = parse_bytes(memory_limit) * 7 // 8
    gib, mib = 2**30, 2**20
    return f"{target // gib}GiB" if target % gib == 0 else f"{target // mib}MiB"


def file_store(args: MessageBusArgs) -> int:
    """JetStream file store in bytes: configured, or 90% of the volume."""
    if args.jetstream.max_file_store is not None:
        return parse_bytes(args.jetstream.max_file_store)
    return parse_bytes(args.storage.size) * 9 // 10


def server_config(args: MessageBusArgs) -> str:
    """nats-server.conf (config/nats/); `$VAR`s are read from the container's environment by
    nats-server. JetStream keeps its files in <store_dir>/jetstream (/data/jetstream, as seed
    000's chart).

    The credentials are not in it: nats-server parses a `$VAR`'s value as configuration, so a
    password such as `4E1...` (a number with an exponent) or one holding a space, `{` or `;`
    would stop the server (issue 14). With `auth` it includes the mounted Secret key
    `auth.conf`, where the password is a quoted string (`auth_block`). With more than one
    replica, the servers route to each other through the headless Service.
    """
    name = args.platform.name(COMPONENT)
    text = render(
        __file__,
        "config/nats/server.conf.tmpl",
        client_port=CLIENT.port,
        monitor_port=MONITOR.port,
        pid_file=PID_FILE,
        lame_duck_seconds=args.lame_duck_seconds,
        max_file_store=file_store(args),
        max_memory_store=parse_bytes(args.jetstream.max_memory_store),
    )
    if args.auth:
        text += render(__file__, "config/nats/include.conf.tmpl", path=AUTH_INCLUDE)
    if args.replicas > 1:
        routes = [
            f"    nats://{name}-{i}.{name}-headless:{CLUSTER.port}" for i in range(args.replicas)
        ]
        text += render(
            __file__,
            "config/nats/cluster.conf.tmpl",
            cluster_name=name,
            port=CLUSTER.port,
            routes="\n".join(routes),
        )
    return text


def server_command() -> tuple[str, ...]:
    """nats-server with its config (which includes the credentials' file, see server_config)."""
    return ("nats-server", "--config", f"{CONFIG_DIR}/nats.conf")


ADMIN_CLIENTS = ("nats-box", "create-kv-bucket")


def bus_nodes(platform: Platform) -> list[Node]:
    """The bus as the dependency graph sees it: clients call `nats` on 4222; the KV Job and
    nats-box are its own callers."""
    server = platform.node(COMPONENT, (CLIENT,), scheme="nats")
    return [server, *(platform.node(admin, calls=(COMPONENT,)) for admin in ADMIN_CLIENTS)]


class MessageBus(pulumi.ComponentResource):
    """NATS StatefulSet, Services, KV bucket Job, nats-box, credentials and exporter."""

    endpoint: BusEndpoint

    def __init__(
        self, name: str, args: MessageBusArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("trading:messaging:MessageBus", name, None, opts)
        platform = args.platform
        fullname = platform.name(COMPONENT)
        url = f"nats://{fullname}:{CLIENT.port}"

        secret_name: str | None = None
        if args.auth:
            auth = Credentials(
                f"{name}-auth",
                CredentialArgs(
                    platform=platform,
                    component=COMPONENT,
                    secret_name=f"{fullname}-auth",
                    generated=("password",),
                    fixed={"user": NATS_USER},
                    derived={AUTH_KEY: auth_block(NATS_USER)},
                ),
                pulumi.ResourceOptions(parent=self),
            )
            secret_name = auth.name
        endpoint = BusEndpoint(
            url=url,
            bucket=args.bucket,
            # Registering services check the bucket with the Job's CLI, image and sizing.
            cli_image=args.nats_box.image,
            cli_resources=args.job_resources,
            credentials_secret=secret_name,
            node=COMPONENT,
        )
        # Clients and the server read the credentials from the mounted Secret.
        files = endpoint.files()
        client_mounts = (files.mount(),) if files is not None else ()
        client_volumes = (files.manifest(),) if files is not None else ()

        server = Container(
            name="nats",
            image=args.image,
            command=server_command(),
            resources=args.resources,
            ports=(CLIENT, CLUSTER, MONITOR),
            env={
                "SERVER_NAME": FieldEnv("metadata.name"),
                "GOMEMLIMIT": gomemlimit(args.resources.memory_limit),
            },
            mounts=client_mounts,
            probes=Probes(
                # Full JetStream health once, then cheaper checks: readiness is "server up",
                # liveness is "JetStream enabled", so a catching-up stream doesn't kill the pod.
                startup=Probe(port="monitor", path="/healthz", period=10, failure_threshold=90),
                liveness=Probe(port="monitor", path="/healthz?js-enabled-only=true", period=30),
                readiness=Probe(port="monitor", path="/healthz?js-server-only=true", period=10),
            ),
            pre_stop=("nats-server", f"--signal=ldm={PID_FILE}"),
        )
        exporter = Container(
            name="exporter",
            image=args.exporter_image,
            args=(
                f"-port={METRICS.port}",
                "-connz",
                "-routez",
                "-subz",
                "-varz",
                "-jsz=all",
                f"http://localhost:{MONITOR.port}/",
            ),
            resources=args.exporter_resources,
            ports=(METRICS,),
            probes=Probes(
                liveness=Probe(port="metrics", path="/metrics", period=30),
                readiness=Probe(port="metrics", path="/metrics", period=10),
            ),
        )
        self.server = Workload(
            name,
            WorkloadArgs(
                platform=platform,
                component=COMPONENT,
                tier="message-bus",
                kind="StatefulSet",
                replicas=args.replicas,
                main=server,
                sidecars=(exporter,),
                config={"nats.conf": server_config(args)},
                config_mount=CONFIG_DIR,
                scratch=(Scratch("tmp", "/tmp"), Scratch("pid", "/var/run/nats")),
                volume_claims=(
                    VolumeClaim("data", "/data", args.storage.size, args.storage.storage_class),
                ),
                extra_volumes=client_volumes,
                service=ServiceSpec(ports=(CLIENT,)),
                network=platform.access(
                    args.graph, COMPONENT, scrape_ports=(METRICS,), peer_ports=(CLUSTER,)
                ),
                pod_management_policy="Parallel",
                spread="hard",
                termination_grace_seconds=args.lame_duck_seconds + 30,
            ),
            pulumi.ResourceOptions(parent=self),
        )
        # The admin clients' scripts read the files into the nats CLI's variables.
        client_env: dict[str, EnvValue] = {"NATS_URL": url}
        read_credentials = (
            render(
                __file__,
                "scripts/nats-credentials.sh.tmpl",
                user_file=files.file("user"),
                password_file=files.file("password"),
            )
            if files is not None
            else ""
        )
        # Waits for JetStream, then creates the bucket once: a re-run finds it and succeeds.
        kv_script = read_credentials + render(
            __file__,
            "scripts/create-kv-bucket.sh.tmpl",
            bucket=args.bucket,
            replicas=args.replicas,
            history=args.bucket_history,
        )
        job_container = Container(
            name="create-kv-bucket",
            image=args.nats_box.image,
            command=("sh", "-ec", kv_script),
            env={**client_env, "HOME": "/tmp"},
            resources=args.job_resources,
            mounts=client_mounts,
        )
        # Its own identity, so mesh authorization can name it as a caller of the bus.
        self.kv_job = job(
            name,
            BatchArgs(
                platform=platform,
                graph=args.graph,
                component="create-kv-bucket",
                tier="message-bus",
                container=job_container,
                volumes=client_volumes,
            ),
            self,
            backoff_limit=10,
            # The servers' pods, not their Service (whose await only adds a settle time).
            depends_on=[self.server.workload],
        )

        boxes: list[Workload] = []
        if args.nats_box.enabled:
            # A saved context, so `kubectl exec` users just run `nats ...`.
            context_script = read_credentials + render(
                __file__,
                "scripts/nats-box.sh.tmpl",
                credential_flags=CONTEXT_CREDENTIAL_FLAGS if args.auth else "",
            )
            box = Workload(
                f"{name}-box",
                WorkloadArgs(
                    platform=platform,
                    component="nats-box",
                    tier="message-bus",
                    main=Container(
                        name="nats-box",
                        image=args.nats_box.image,
                        command=("sh", "-ec", context_script),
                        env={**client_env, "HOME": "/tmp"},
                        mounts=client_mounts,
                        resources=args.nats_box.resources,
                        probes=Probes(
                            liveness=Probe(command=("nats", "--version"), period=60),
                            readiness=Probe(
                                command=("nats", "server", "check", "connection"), period=30
                            ),
                        ),
                    ),
                    service=None,
                    extra_volumes=client_volumes,
                    network=platform.access(args.graph, "nats-box"),
                ),
                pulumi.ResourceOptions(parent=self),
            )
            boxes.append(box)

        self.endpoint = endpoint
        self.scrape_targets = scrape_targets(self.server, *boxes)
        self.url = url
        self.bucket = args.bucket
        self.register_outputs(
            {"url": url, "bucket": args.bucket, "credentialsSecret": secret_name, "host": fullname}
        )
