"""The FastAPI backend (seed 002): uvicorn workers, the connection settings of the stores, the
bus and the engine shards, and a headless Service whose pod addresses the balancer resolves."""

from __future__ import annotations

from typing import Any

from components.api.args import ApiArgs, BackendArgs
from components.api.nodes import BACKEND, BACKEND_NODE, HEALTH_PATH, TIER
from components.endpoints import SecretFiles
from components.graph import ServicePort
from components.workload import (
    Container,
    EnvValue,
    Platform,
    WorkloadArgs,
    http_probes,
    service_ports,
)


def uvicorn_command(backend: BackendArgs) -> tuple[str, ...]:
    return (
        "uvicorn",
        backend.app_module,
        "--host",
        "0.0.0.0",
        "--port",
        str(backend.port),
        "--workers",
        str(backend.workers),
        # Client address and scheme from the balancer's X-Forwarded-* headers.
        "--proxy-headers",
        "--forwarded-allow-ips",
        "*",
        "--no-server-header",
    )


def backend_env(args: ApiArgs) -> dict[str, EnvValue]:
    """Endpoint settings first (credentials as `*_FILE` paths), then the graph's
    `SERVICE_*_URL` for callees the endpoints do not already describe."""
    env: dict[str, EnvValue] = {
        "UVICORN_WORKERS": str(args.backend.workers),
        "PORT": str(args.backend.port),
    }
    if args.database is not None:
        env.update(args.database.env())
    if args.cache is not None:
        env.update(args.cache.env())
    if args.bus.registers(args.graph, BACKEND_NODE):
        env.update(args.bus.env())
    env["ENGINE_SHARDS"] = ",".join(args.engine_shards)
    env["ENGINE_SHARD_COUNT"] = str(len(args.engine_shards))
    for key, value in args.graph.service_env(BACKEND_NODE).items():
        env.setdefault(key, value)
    return env


def backend_secret_files(args: ApiArgs) -> list[SecretFiles]:
    """The credentials `backend_env`'s `*_FILE` variables name, mounted as files."""
    files = [
        args.database.files() if args.database is not None else None,
        args.cache.files() if args.cache is not None else None,
        args.bus.files(),
    ]
    return [f for f in files if f is not None]


def backend_workload_args(args: ApiArgs) -> WorkloadArgs:
    platform = args.platform
    port = ServicePort("http", args.backend.port)
    files = backend_secret_files(args)
    return WorkloadArgs(
        platform=platform,
        component=BACKEND,
        tier=TIER,
        main=Container(
            name="backend",
            image=args.backend.image,
            command=uvicorn_command(args.backend),
            resources=args.backend.resources,
            env=backend_env(args),
            ports=(port,),
            probes=http_probes("http", HEALTH_PATH),
            mounts=tuple(f.mount() for f in files),
        ),
        extra_volumes=tuple(f.manifest() for f in files),
        replicas=args.backend.replicas,
        autoscaling=args.backend.autoscaling,
        # It registers in the bus's KV bucket: it starts once the bucket exists.
        init_containers=args.bus.bucket_waits(args.graph, BACKEND_NODE),
        network=platform.access(args.graph, BACKEND_NODE, scrape_ports=(port,)),
    )


def headless_name(platform: Platform) -> str:
    return f"{platform.name(BACKEND)}-headless"


def headless_spec(platform: Platform, backend: BackendArgs) -> dict[str, Any]:
    """Pod addresses for the balancer's least_conn (only ready pods are published)."""
    return {
        "clusterIP": "None",
        "selector": platform.selector(BACKEND),
        "ports": service_ports([ServicePort("http", backend.port)]),
    }
