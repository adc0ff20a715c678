"""A stand-in for the `nats` CLI (not packaged anywhere the tests can install from): the few
subcommands the platform's scripts use, making the same JetStream API requests through nats-py.

Like the real CLI it reads NATS_URL, NATS_USER and NATS_PASSWORD, prints to stdout and exits
non-zero on failure: `stream ls`, `kv info BUCKET`, `kv add BUCKET [--replicas=N] [--history=N]`,
`server check connection`, `--version`.
"""

from __future__ import annotations

import asyncio
import os
import sys

import nats
from nats.js.api import KeyValueConfig


def option(args: list[str], name: str, default: int) -> int:
    for arg in args:
        if arg.startswith(f"--{name}="):
            return int(arg.split("=", 1)[1])
    return default


async def run(args: list[str]) -> int:
    if args == ["--version"]:
        print("nats-py stand-in")
        return 0
    nc = await nats.connect(
        os.environ.get("NATS_URL", "nats://127.0.0.1:4222"),
        user=os.environ.get("NATS_USER") or None,
        password=os.environ.get("NATS_PASSWORD") or None,
        connect_timeout=2,
        allow_reconnect=False,
        max_reconnect_attempts=0,
    )
    try:
        js = nc.jetstream(timeout=3)
        match args:
            case ["server", "check", "connection"]:
                print("OK Connection")
            case ["stream", "ls"]:
                for name in await js.streams_info():
                    print(name.config.name)
            case ["kv", "info", bucket]:
                status = await (await js.key_value(bucket)).status()
                print(f"bucket {status.bucket} replicas {status.stream_info.config.num_replicas}")
            case ["kv", "add", bucket, *rest]:
                config = KeyValueConfig(
                    bucket=bucket,
                    replicas=option(rest, "replicas", 1),
                    history=option(rest, "history", 1),
                )
                await js.create_key_value(config)
                print(f"created bucket {bucket}")
            case _:
                print(f"nats stand-in: unsupported arguments {args}", file=sys.stderr)
                return 2
    finally:
        await nc.close()
    return 0


def main() -> int:
    try:
        return asyncio.run(run(sys.argv[1:]))
    except Exception as error:  # the CLI reports and exits 1, as `nats` does
        print(f"nats: error: {error!r}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
