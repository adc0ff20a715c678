"""Run a stack's program offline: no Pulumi CLI, no cluster.

The program (`__main__.py`) runs under `pulumi.runtime.set_mocks` with the config of
`Pulumi.<stack>.yaml`, namespaced as the engine passes it. A recording monitor keeps every
registered resource with its inputs and options. The render command and the test suite both
use `run_stack`: there is one way to run a stack offline.
"""

from __future__ import annotations

import contextvars
import json
import runpy
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import yaml
from pulumi.runtime import mocks, rpc, settings
from pulumi.runtime.stack import wait_for_rpcs
from pulumi.runtime.sync_await import _sync_await

from stacks.config import deep_merge
from stacks.errors import PROJECT

ROOT = Path(__file__).resolve().parent.parent
SECRET_SIG = rpc._special_secret_sig  # the engine's marker for secret values
REDACTED = "<redacted>"


@dataclass
class Registration:
    """One registered resource: what the engine would receive."""

    urn: str
    type: str
    name: str
    custom: bool
    inputs: dict[str, Any]
    parent: str
    provider: str
    providers: dict[str, str]
    dependencies: list[str]
    protect: bool
    retain_on_delete: bool
    ignore_changes: list[str]
    import_id: str

    @property
    def is_kubernetes_object(self) -> bool:
        return (
            self.custom
            and self.type.startswith("kubernetes:")
            and not self.type.startswith("kubernetes:helm.sh/")
        )

    @property
    def kind(self) -> str:
        return self.type.rsplit(":", 1)[-1]

    @property
    def object_name(self) -> str | None:
        meta = self.inputs.get("metadata") or {}
        name = meta.get("name") if isinstance(meta, dict) else None
        return str(unwrap(name)) if name is not None else None

    def manifest(self, redact: bool = False) -> dict[str, Any]:
        """The Kubernetes object as applied, secret values replaced when `redact`."""
        body = normalize(redact_secrets(self.inputs) if redact else unwrap(self.inputs))
        if redact and self.kind == "Secret":
            # Every value goes, even where the whole map was one secret; the keys stay visible.
            plain = unwrap(self.inputs)
            for key in ("data", "stringData"):
                if isinstance(plain.get(key), dict):
                    body[key] = dict.fromkeys(plain[key], REDACTED)
        head = {k: body.pop(k) for k in ("apiVersion", "kind", "metadata") if k in body}
        return {**head, **body}


@dataclass
class Recording:
    """The resource graph of one offline run, and the stack outputs."""

    stack: str
    resources: list[Registration] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)
    secret_outputs: set[str] = field(default_factory=set)

    def kubernetes_objects(self) -> Iterator[Registration]:
        return (r for r in self.resources if r.is_kubernetes_object)

    def of_kind(self, kind: str) -> list[Registration]:
        return [r for r in self.kubernetes_objects() if r.kind == kind]

    def get(self, kind: str, name: str) -> Registration:
        found = [r for r in self.of_kind(kind) if r.object_name == name]
        if len(found) != 1:
            names = sorted(str(r.object_name) for r in self.of_kind(kind))
            raise KeyError(f"{len(found)} {kind} named {name!r}; {kind}s: {names}")
        return found[0]

    def by_urn(self, urn: str) -> Registration:
        return next(r for r in self.resources if r.urn == urn)

    def tier_of(self, registration: Registration) -> str:
        """Logical name of the top-level component (child of the stack) that owns it."""
        current = registration
        while current.parent and not current.parent.endswith(f"::{PROJECT}-{self.stack}"):
            parent = next((r for r in self.resources if r.urn == current.parent), None)
            if parent is None:
                break
            current = parent
        return current.name


class RecordingMonitor(mocks.MockMonitor):
    """The SDK's mock monitor, also keeping each request's options."""

    def __init__(self, mock: mocks.Mocks, recording: Recording) -> None:
        super().__init__(mock)
        self.recording = recording

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 - gRPC method name
        response = super().RegisterResource(request)
        if request.type == "pulumi:pulumi:Stack":
            return response
        self.recording.resources.append(
            Registration(
                urn=response.urn,
                type=request.type,
                name=request.name,
                custom=bool(request.custom),
                inputs=rpc.deserialize_properties(request.object, keep_unknowns=True),
                parent=request.parent,
                provider=request.provider,
                providers=dict(request.providers),
                dependencies=list(request.dependencies),
                protect=bool(request.protect),
                retain_on_delete=bool(request.retainOnDelete),
                ignore_changes=list(request.ignoreChanges),
                import_id=request.importId,
            )
        )
        return response


class OfflineMocks(mocks.Mocks):
    """Resources echo their inputs, as the Kubernetes provider does for declared fields."""

    def new_resource(self, args: mocks.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        state = dict(args.inputs)
        if args.typ.startswith("random:index/random"):
            state["result"] = {SECRET_SIG_KEY: SECRET_SIG, "value": f"offline-{args.name}"}
        if args.typ.startswith("kubernetes:helm.sh/"):
            state["status"] = {"name": args.inputs.get("name", args.name), "status": "deployed"}
        return f"{args.name}-id", state

    def call(self, args: mocks.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        return {}, None


SECRET_SIG_KEY = rpc._special_sig_key


def is_secret(value: Any) -> bool:
    return isinstance(value, dict) and value.get(SECRET_SIG_KEY) == SECRET_SIG


def unwrap(value: Any) -> Any:
    """Plain values: secret markers removed, values kept (for assertions, never for output)."""
    if is_secret(value):
        return unwrap(value["value"])
    if isinstance(value, dict):
        return {k: unwrap(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrap(v) for v in value]
    return value


def normalize(value: Any) -> Any:
    """Protobuf carries every number as a double: give integers back their type."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: normalize(v) for k, v in value.items()}
    if isinstance(value, list):
        return [normalize(v) for v in value]
    return value


def redact_secrets(value: Any) -> Any:
    if is_secret(value):
        return REDACTED
    if isinstance(value, dict):
        return {k: redact_secrets(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redact_secrets(v) for v in value]
    return value


def stack_config(stack: str, project_dir: Path = ROOT) -> dict[str, Any]:
    """The config the engine hands the program: `Pulumi.<stack>.yaml`'s block over the project's
    declared defaults (`Pulumi.yaml`), keys as written (`trading-platform:release`)."""
    path = project_dir / f"Pulumi.{stack}.yaml"
    if not path.exists():
        raise FileNotFoundError(f"no stack file {path.name} in {project_dir}")
    project = yaml.safe_load((project_dir / "Pulumi.yaml").read_text()) or {}
    config: dict[str, Any] = {
        f"{PROJECT}:{key}": declared["default"]
        for key, declared in (project.get("config") or {}).items()
        if isinstance(declared, dict) and "default" in declared
    }
    document = yaml.safe_load(path.read_text()) or {}
    config.update(document.get("config") or {})
    return config


def engine_value(value: Any) -> str:
    """How the engine passes a config value to the program: strings, objects as JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value)


def run_stack(
    stack: str,
    overrides: Mapping[str, Any] | None = None,
    *,
    project_dir: Path = ROOT,
    recording: Recording | None = None,
) -> Recording:
    """Run `__main__.py` for `stack` under mocks; `overrides` merge over the stack file's config
    (keys without the project prefix). Pass `recording` to inspect a run that raised."""
    config = stack_config(stack, project_dir)
    for key, value in (overrides or {}).items():
        full = key if ":" in key else f"{PROJECT}:{key}"
        old = config.get(full)
        config[full] = (
            deep_merge(old, value) if isinstance(old, dict) and isinstance(value, dict) else value
        )
    main = str(project_dir / "__main__.py")
    return run_program(
        lambda: runpy.run_path(main, run_name="__main__"), stack, config, recording=recording
    )


def run_program(
    program: Callable[[], object],
    stack: str = "test",
    config: Mapping[str, Any] | None = None,
    *,
    recording: Recording | None = None,
) -> Recording:
    """Run any Pulumi program callable under the recording mocks (components in tests)."""
    target = recording if recording is not None else Recording(stack)
    # A fresh context: each run gets its own root stack resource and config.
    contextvars.Context().run(_run, stack, dict(config or {}), program, target)
    return target


def _run(
    stack: str, config: dict[str, Any], program: Callable[[], object], recording: Recording
) -> None:
    pulumi.runtime.set_all_config({k: engine_value(v) for k, v in config.items()}, [])
    mock = OfflineMocks()
    mocks.set_mocks(
        mock,
        project=PROJECT,
        stack=stack,
        preview=False,
        monitor=RecordingMonitor(mock, recording),
    )
    settings.SETTINGS.rpc_manager.clear()
    program()
    _sync_await(wait_for_rpcs())
    root = settings.get_root_resource()
    for name, value in getattr(root, "outputs", {}).items():
        output = pulumi.Output.from_input(value)
        recording.outputs[name] = _sync_await(output.future())
        if _sync_await(output.is_secret()):
            recording.secret_outputs.add(name)
