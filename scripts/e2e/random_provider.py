"""Stand-in `pulumi-resource-random` for the end-to-end run: `RandomPassword` only.

Why it exists: the e2e run drives the real Pulumi engine, which launches a resource provider
plugin for every package the program uses. The program uses `pulumi_random` (SDK pinned at
4.21.4) for generated credentials, but the real provider cannot be built here: the Go module proxy
refuses every version of github.com/pulumi/pulumi-random/provider/v4 and of the Terraform bridge
it needs. This module is therefore used ONLY by the e2e run (through `scripts/e2e/bin/
pulumi-resource-random`, which `scripts/e2e.sh` puts last on PATH so a real provider still wins);
it is not part of the deployed program and nothing in production depends on it.

Protocol: the engine starts the plugin as `pulumi-resource-random [flags] <engine address>`; the
plugin serves the `pulumirpc.ResourceProvider` gRPC service (stubs from the installed pulumi SDK,
`pulumi.runtime.proto`) on 127.0.0.1 on a free port, prints that port alone on the first line of
stdout, and serves until SIGINT/SIGTERM (the engine interrupts plugins, then kills them).

What it implements, modelled on terraform-provider-random's `random_password` as bridged by
pulumi-random 4.21.4:

- `Handshake`, `Configure`: secrets and resource references accepted, previews supported.
  `CheckConfig` accepts any configuration (the real provider has none), `DiffConfig` reports no
  change. `GetPluginInfo` reports version 4.21.4; `GetSchema` returns a minimal schema holding
  only `random:index/randomPassword:RandomPassword`. `GetMapping(s)` return empty answers.
- `Check`: `length` required (an integer >= 1 and >= minUpper + minLower + minNumeric +
  minSpecial); `special`/`upper`/`lower` default to true, `numeric` and its deprecated alias
  `number` default to true and mirror each other, `minUpper`/`minLower`/`minNumeric`/`minSpecial`
  default to 0; `overrideSpecial` and `keepers` are optional. Type errors, unknown properties and
  `number` != `numeric` are reported as check failures. Unknown (preview) values pass unchecked.
- `Diff`: every input forces replacement (the upstream schema marks each one RequiresReplace);
  the detailed diff names each changed input. Inputs are compared with defaults applied, so an
  omitted input equals its default; `overrideSpecial` "" equals unset, `keepers` {} equals unset.
  Replacements are create-before-delete.
- `Create`: the password comes from the `secrets` module exactly as upstream builds it: first
  `minUpper`/`minLower`/`minNumeric`/`minSpecial` characters from each class (even a disabled
  one, as upstream), then the rest from the enabled classes, shuffled. Specials are
  `!@#$%&*()-_=+[]{}<>:?` unless `overrideSpecial` is set. Outputs are the inputs plus `result`,
  `bcryptHash` and `id` "none" (the ID is "none" too, as upstream). In a preview, `result`,
  `bcryptHash` and `id` are the unknown sentinel.
- `Read`: returns the given ID, state and inputs unchanged. With no state (`pulumi import` of a
  password given as the ID) it builds the state upstream's ImportState builds.
- `Update`: only reachable if the engine bypasses the replace-only diff; returns the old state
  overlaid with the new inputs. `Delete` and `Cancel` do nothing.
- Secrets: values may arrive wrapped as secrets (`{SIG_KEY: SECRET_SIG, "value": ...}`); they are
  unwrapped for validation, comparison and generation, and an input that arrived secret is sent
  back secret from Check and Create. `result` and `bcryptHash` are returned plain: the Python SDK
  registers them as additional secret outputs, so the engine stores them as secrets.

What it does not implement: the other `random` resources (RandomString, RandomId, RandomPet, ...)
and `Invoke`/`Call`/`Construct`/`Parameterize`/`List`/`Attach` (all answer UNIMPLEMENTED). State
upgrades from old upstream schema versions are not performed. `bcryptHash` needs the `bcrypt`
package, which is not in the stdlib and not in the venv: without it `bcryptHash` is the empty
string (with it: cost 10 like upstream, and "" for passwords over bcrypt's 72-byte limit).
Results differ from the real provider's only by chance, never in shape.
"""

# ruff: noqa: N802 - the servicer's methods carry the gRPC method names

from __future__ import annotations

import argparse
import importlib
import json
import math
import secrets
import signal
import sys
import threading
from collections.abc import Mapping
from concurrent import futures
from types import FrameType
from typing import Any, NoReturn

import grpc  # type: ignore[import-untyped]
from google.protobuf import empty_pb2, json_format, struct_pb2  # type: ignore[import-untyped]
from pulumi.runtime.proto import plugin_pb2, provider_pb2, provider_pb2_grpc

VERSION = "4.21.4"
PASSWORD_TYPE = "random:index/randomPassword:RandomPassword"

# The SDK's wire sentinels (pulumi.runtime.rpc): an unknown value during a preview, and the
# signature that marks a secret-wrapped value.
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
SIG_KEY = "4dabf18193072939515e22adb298388d"
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"

UPPER_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
LOWER_CHARS = "abcdefghijklmnopqrstuvwxyz"
NUMERIC_CHARS = "0123456789"
SPECIAL_CHARS = "!@#$%&*()-_=+[]{}<>:?"

BOOL_DEFAULTS = {"special": True, "upper": True, "lower": True}
MIN_KEYS = ("minUpper", "minLower", "minNumeric", "minSpecial")
INPUT_KEYS = frozenset(
    {"keepers", "length", "number", "numeric", "overrideSpecial", *BOOL_DEFAULTS, *MIN_KEYS}
)
OUTPUT_KEYS = frozenset({"result", "bcryptHash", "id"})
BCRYPT_COST = 10  # upstream: bcrypt.DefaultCost
BCRYPT_MAX_BYTES = 72

Props = dict[str, Any]


class InvalidInputsError(ValueError):
    """Inputs that Create cannot use (Check normally rejects them first)."""


# --- wire values -----------------------------------------------------------------------------


def decode(struct: struct_pb2.Struct) -> Props:
    """A Struct as plain Python values (numbers are floats, null is None)."""
    return json_format.MessageToDict(struct)


def encode(props: Mapping[str, Any]) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    struct.update(dict(props))
    return struct


def is_secret(value: Any) -> bool:
    return isinstance(value, dict) and value.get(SIG_KEY) == SECRET_SIG


def unwrap(value: Any) -> tuple[Any, bool]:
    """The value without secret wrappers (at any depth), and whether it held one."""
    if is_secret(value):
        inner, _ = unwrap(value.get("value"))
        return inner, True
    if isinstance(value, dict):
        plain: Props = {}
        secret = False
        for key, item in value.items():
            plain[key], inner_secret = unwrap(item)
            secret = secret or inner_secret
        return plain, secret
    if isinstance(value, list):
        pairs = [unwrap(item) for item in value]
        return [item for item, _ in pairs], any(secret for _, secret in pairs)
    return value, False


def unwrap_props(props: Mapping[str, Any]) -> tuple[Props, set[str]]:
    """Top-level properties without secret wrappers, and the names of those that held one."""
    plain: Props = {}
    secret_keys: set[str] = set()
    for key, value in props.items():
        plain[key], secret = unwrap(value)
        if secret:
            secret_keys.add(key)
    return plain, secret_keys


def wrap_secrets(props: Mapping[str, Any], secret_keys: set[str]) -> Props:
    return {
        key: {SIG_KEY: SECRET_SIG, "value": value} if key in secret_keys else value
        for key, value in props.items()
    }


def contains_unknown(value: Any) -> bool:
    if value == UNKNOWN:
        return True
    if isinstance(value, dict):
        return any(contains_unknown(item) for item in value.values())
    if isinstance(value, list):
        return any(contains_unknown(item) for item in value)
    return False


# --- inputs ----------------------------------------------------------------------------------


def apply_defaults(props: Mapping[str, Any]) -> Props:
    """The inputs with upstream's defaults filled in; null counts as unset."""
    result = {key: value for key, value in props.items() if value is not None}
    for key, default in BOOL_DEFAULTS.items():
        result.setdefault(key, default)
    for key in MIN_KEYS:
        result.setdefault(key, 0)
    # `number` is the deprecated alias of `numeric`: whichever is set fills the other.
    if "numeric" not in result and "number" not in result:
        result["numeric"] = result["number"] = True
    elif "numeric" not in result:
        result["numeric"] = result["number"]
    elif "number" not in result:
        result["number"] = result["numeric"]
    return result


def is_integer(value: Any) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and float(value).is_integer()
    )


def check_inputs(props: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Failures (property, reason) of defaulted, unwrapped inputs; unknown values pass."""
    failures: list[tuple[str, str]] = []
    for key in sorted(set(props) - INPUT_KEYS):
        failures.append((key, f"unknown property {key!r} for {PASSWORD_TYPE}"))

    def known(key: str) -> bool:
        return key in props and not contains_unknown(props[key])

    if "length" not in props:
        failures.append(("length", "missing required property 'length'"))
    elif known("length") and (not is_integer(props["length"]) or props["length"] < 1):
        failures.append(("length", "length must be an integer of at least 1"))
    for key in MIN_KEYS:
        if known(key) and (not is_integer(props[key]) or props[key] < 0):
            failures.append((key, f"{key} must be an integer of at least 0"))
    for key in (*BOOL_DEFAULTS, "number", "numeric"):
        if known(key) and not isinstance(props[key], bool):
            failures.append((key, f"{key} must be a boolean"))
    if known("overrideSpecial") and not isinstance(props["overrideSpecial"], str):
        failures.append(("overrideSpecial", "overrideSpecial must be a string"))
    if known("keepers") and not isinstance(props["keepers"], dict):
        failures.append(("keepers", "keepers must be a map of strings"))
    if (
        known("number")
        and known("numeric")
        and isinstance(props["number"], bool)
        and props["number"] != props["numeric"]
    ):
        failures.append(("numeric", "number and numeric are both set, to different values"))
    if not failures and all(known(key) for key in ("length", *MIN_KEYS)):
        minimum = sum(int(props[key]) for key in MIN_KEYS)
        if props["length"] < minimum:
            failures.append(
                (
                    "length",
                    f"length must be at least minUpper + minLower + minNumeric + minSpecial"
                    f" ({minimum})",
                )
            )
    return failures


def comparable(props: Mapping[str, Any]) -> Props:
    """Inputs as Diff compares them: defaults applied, "" and {} equal to unset."""
    inputs = apply_defaults(
        {
            key: value
            for key, value in props.items()
            if key not in OUTPUT_KEYS and not key.startswith("__")
        }
    )
    if inputs.get("overrideSpecial") == "":
        del inputs["overrideSpecial"]
    if inputs.get("keepers") == {}:
        del inputs["keepers"]
    return inputs


# --- generation ------------------------------------------------------------------------------


def generate_password(props: Mapping[str, Any]) -> str:
    """Upstream's algorithm (terraform-provider-random internal/random/string.go)."""
    specials = props.get("overrideSpecial") or SPECIAL_CHARS
    classes = (
        (UPPER_CHARS, "upper", "minUpper"),
        (LOWER_CHARS, "lower", "minLower"),
        (NUMERIC_CHARS, "numeric", "minNumeric"),
        (specials, "special", "minSpecial"),
    )
    length = int(props["length"])
    chars = "".join(charset for charset, flag, _ in classes if props[flag])
    result: list[str] = []
    for charset, _, min_key in classes:
        result.extend(secrets.choice(charset) for _ in range(int(props[min_key])))
    remaining = length - len(result)
    if remaining > 0 and not chars:
        raise InvalidInputsError(
            "no characters to choose from: enable upper, lower, numeric or special"
        )
    result.extend(secrets.choice(chars) for _ in range(max(remaining, 0)))
    secrets.SystemRandom().shuffle(result)
    return "".join(result)


def bcrypt_hash(password: str) -> str:
    """bcrypt hash of the password, or "" without the `bcrypt` package (see module docstring)."""
    try:
        bcrypt = importlib.import_module("bcrypt")
    except ImportError:
        return ""
    data = password.encode()
    if len(data) > BCRYPT_MAX_BYTES:
        return ""
    hashed: bytes = bcrypt.hashpw(data, bcrypt.gensalt(rounds=BCRYPT_COST))
    return hashed.decode()


# --- the schema ------------------------------------------------------------------------------


def _property(kind: str, description: str, **extra: Any) -> Props:
    return {"type": kind, "description": description, **extra}


INPUT_PROPERTIES: Props = {
    "keepers": _property(
        "object",
        "Arbitrary map of values that, when changed, trigger recreation of the resource.",
        additionalProperties={"type": "string"},
    ),
    "length": _property("integer", "The length of the string desired (at least 1)."),
    "lower": _property("boolean", "Include lowercase alphabet characters. Default true."),
    "minLower": _property("integer", "Minimum number of lowercase characters. Default 0."),
    "minNumeric": _property("integer", "Minimum number of numeric characters. Default 0."),
    "minSpecial": _property("integer", "Minimum number of special characters. Default 0."),
    "minUpper": _property("integer", "Minimum number of uppercase characters. Default 0."),
    "number": _property(
        "boolean",
        "Include numeric characters. Default true.",
        deprecationMessage="Use `numeric` instead.",
    ),
    "numeric": _property("boolean", "Include numeric characters. Default true."),
    "overrideSpecial": _property("string", "Your own list of special characters."),
    "special": _property("boolean", "Include special characters. Default true."),
    "upper": _property("boolean", "Include uppercase alphabet characters. Default true."),
}

SCHEMA: Props = {
    "name": "random",
    "version": VERSION,
    "description": "Stand-in of the random provider for the e2e run (RandomPassword only).",
    "config": {},
    "provider": {"description": "The provider type for the random package."},
    "resources": {
        PASSWORD_TYPE: {
            "description": "A random password (e2e stand-in; see scripts/e2e/random_provider.py).",
            "inputProperties": INPUT_PROPERTIES,
            "requiredInputs": ["length"],
            "properties": {
                **INPUT_PROPERTIES,
                "bcryptHash": _property(
                    "string", "A bcrypt hash of the generated string.", secret=True
                ),
                "result": _property("string", "The generated random string.", secret=True),
            },
            "required": [
                "bcryptHash",
                "length",
                "lower",
                "minLower",
                "minNumeric",
                "minSpecial",
                "minUpper",
                "number",
                "numeric",
                "result",
                "special",
                "upper",
            ],
        }
    },
    "language": {"python": {"packageName": "pulumi_random"}},
}


# --- the service -----------------------------------------------------------------------------


def abort(context: grpc.ServicerContext, code: grpc.StatusCode, message: str) -> NoReturn:
    context.abort(code, message)
    raise AssertionError("unreachable: ServicerContext.abort raises")


def require_password_type(urn: str, type_: str, context: grpc.ServicerContext) -> None:
    """Reject resource types other than RandomPassword (the engine sends the type; else the URN)."""
    token = type_
    parts = urn.split("::")
    if not token and len(parts) >= 4:
        token = parts[2].rsplit("$", 1)[-1]
    if token and token != PASSWORD_TYPE:
        abort(
            context,
            grpc.StatusCode.UNIMPLEMENTED,
            f"the e2e stand-in random provider implements only {PASSWORD_TYPE}, not {token}",
        )


class RandomProvider(provider_pb2_grpc.ResourceProviderServicer):
    """`pulumirpc.ResourceProvider` for `random:index/randomPassword:RandomPassword`."""

    def Handshake(
        self, request: provider_pb2.ProviderHandshakeRequest, context: grpc.ServicerContext
    ) -> provider_pb2.ProviderHandshakeResponse:
        return provider_pb2.ProviderHandshakeResponse(
            accept_secrets=True, accept_resources=True, accept_outputs=False
        )

    def GetPluginInfo(
        self, request: empty_pb2.Empty, context: grpc.ServicerContext
    ) -> plugin_pb2.PluginInfo:
        return plugin_pb2.PluginInfo(version=VERSION)

    def GetSchema(
        self, request: provider_pb2.GetSchemaRequest, context: grpc.ServicerContext
    ) -> provider_pb2.GetSchemaResponse:
        if request.version != 0:
            abort(
                context,
                grpc.StatusCode.INVALID_ARGUMENT,
                f"unsupported schema version {request.version}",
            )
        return provider_pb2.GetSchemaResponse(schema=json.dumps(SCHEMA))

    def CheckConfig(
        self, request: provider_pb2.CheckRequest, context: grpc.ServicerContext
    ) -> provider_pb2.CheckResponse:
        return provider_pb2.CheckResponse(inputs=request.news)

    def DiffConfig(
        self, request: provider_pb2.DiffRequest, context: grpc.ServicerContext
    ) -> provider_pb2.DiffResponse:
        return provider_pb2.DiffResponse(changes=provider_pb2.DiffResponse.DIFF_NONE)

    def Configure(
        self, request: provider_pb2.ConfigureRequest, context: grpc.ServicerContext
    ) -> provider_pb2.ConfigureResponse:
        return provider_pb2.ConfigureResponse(
            acceptSecrets=True, supportsPreview=True, acceptResources=True, acceptOutputs=False
        )

    def Check(
        self, request: provider_pb2.CheckRequest, context: grpc.ServicerContext
    ) -> provider_pb2.CheckResponse:
        require_password_type(request.urn, request.type, context)
        news, secret_keys = unwrap_props(decode(request.news))
        news = {key: value for key, value in news.items() if not key.startswith("__")}
        inputs = apply_defaults(news)
        failures = [
            provider_pb2.CheckFailure(property=key, reason=reason)
            for key, reason in check_inputs(inputs)
        ]
        return provider_pb2.CheckResponse(
            inputs=encode(wrap_secrets(inputs, secret_keys)), failures=failures
        )

    def Diff(
        self, request: provider_pb2.DiffRequest, context: grpc.ServicerContext
    ) -> provider_pb2.DiffResponse:
        require_password_type(request.urn, request.type, context)
        olds, _ = unwrap_props(decode(request.olds))
        news, _ = unwrap_props(decode(request.news))
        before = comparable({key: value for key, value in olds.items() if key in INPUT_KEYS})
        after = comparable(news)
        ignored = set(request.ignoreChanges)
        kinds = provider_pb2.PropertyDiff
        detailed: dict[str, provider_pb2.PropertyDiff] = {}
        for key in sorted(set(before) | set(after)):
            if key in ignored:
                continue
            if key not in before:
                kind = kinds.ADD_REPLACE
            elif key not in after:
                kind = kinds.DELETE_REPLACE
            elif before[key] != after[key] or contains_unknown(after[key]):
                kind = kinds.UPDATE_REPLACE
            else:
                continue
            detailed[key] = provider_pb2.PropertyDiff(kind=kind, inputDiff=True)
        changed = list(detailed)
        return provider_pb2.DiffResponse(
            changes=(
                provider_pb2.DiffResponse.DIFF_SOME
                if changed
                else provider_pb2.DiffResponse.DIFF_NONE
            ),
            replaces=changed,
            diffs=changed,
            detailedDiff=detailed,
            hasDetailedDiff=True,
            deleteBeforeReplace=False,
        )

    def Create(
        self, request: provider_pb2.CreateRequest, context: grpc.ServicerContext
    ) -> provider_pb2.CreateResponse:
        require_password_type(request.urn, request.type, context)
        props, secret_keys = unwrap_props(decode(request.properties))
        inputs = apply_defaults(
            {key: value for key, value in props.items() if not key.startswith("__")}
        )
        failures = check_inputs(inputs)
        if failures:
            abort(
                context,
                grpc.StatusCode.INVALID_ARGUMENT,
                "; ".join(f"{key}: {reason}" for key, reason in failures),
            )
        outputs = wrap_secrets(inputs, secret_keys)
        if request.preview or contains_unknown(inputs):
            if not request.preview:
                abort(context, grpc.StatusCode.INVALID_ARGUMENT, "unknown inputs outside a preview")
            outputs.update(result=UNKNOWN, bcryptHash=UNKNOWN, id=UNKNOWN)
            return provider_pb2.CreateResponse(id="", properties=encode(outputs))
        try:
            password = generate_password(inputs)
        except InvalidInputsError as error:
            abort(context, grpc.StatusCode.INVALID_ARGUMENT, str(error))
        outputs.update(result=password, bcryptHash=bcrypt_hash(password), id="none")
        return provider_pb2.CreateResponse(id="none", properties=encode(outputs))

    def Read(
        self, request: provider_pb2.ReadRequest, context: grpc.ServicerContext
    ) -> provider_pb2.ReadResponse:
        require_password_type(request.urn, request.type, context)
        if request.properties.fields or not request.id:
            return provider_pb2.ReadResponse(
                id=request.id, properties=request.properties, inputs=request.inputs
            )
        # `pulumi import`: the ID is the password itself (upstream ImportState).
        password = request.id
        inputs = apply_defaults({"length": len(password)})
        state = {**inputs, "result": password, "bcryptHash": bcrypt_hash(password), "id": "none"}
        return provider_pb2.ReadResponse(id="none", properties=encode(state), inputs=encode(inputs))

    def Update(
        self, request: provider_pb2.UpdateRequest, context: grpc.ServicerContext
    ) -> provider_pb2.UpdateResponse:
        require_password_type(request.urn, request.type, context)
        state = {**decode(request.olds), **decode(request.news)}
        return provider_pb2.UpdateResponse(properties=encode(state))

    def Delete(
        self, request: provider_pb2.DeleteRequest, context: grpc.ServicerContext
    ) -> empty_pb2.Empty:
        return empty_pb2.Empty()

    def Cancel(self, request: empty_pb2.Empty, context: grpc.ServicerContext) -> empty_pb2.Empty:
        return empty_pb2.Empty()

    def GetMapping(
        self, request: provider_pb2.GetMappingRequest, context: grpc.ServicerContext
    ) -> provider_pb2.GetMappingResponse:
        return provider_pb2.GetMappingResponse(provider="", data=b"")

    def GetMappings(
        self, request: provider_pb2.GetMappingsRequest, context: grpc.ServicerContext
    ) -> provider_pb2.GetMappingsResponse:
        return provider_pb2.GetMappingsResponse(providers=[])


# --- the plugin ------------------------------------------------------------------------------


def parse_args(argv: list[str]) -> argparse.Namespace:
    """The engine passes `[--logtostderr] [-v=N] [--tracing ENDPOINT] ENGINE_ADDRESS`."""
    parser = argparse.ArgumentParser(description="Stand-in pulumi-resource-random (e2e)")
    parser.add_argument("engine", nargs="?", help="the engine's gRPC address (unused)")
    parser.add_argument("--logtostderr", action="store_true", help="ignored")
    parser.add_argument("--logflow", action="store_true", help="ignored")
    parser.add_argument("-v", dest="verbose", help="ignored")
    parser.add_argument("--tracing", help="ignored")
    args, _ = parser.parse_known_args(argv)
    return args


def main(argv: list[str] | None = None) -> int:
    parse_args(sys.argv[1:] if argv is None else argv)
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=8),
        options=[("grpc.max_receive_message_length", 400 * 1024 * 1024)],
    )
    provider_pb2_grpc.add_ResourceProviderServicer_to_server(RandomProvider(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    if port == 0:
        print("random provider: could not bind a port on 127.0.0.1", file=sys.stderr)
        return 1
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    server.start()
    sys.stdout.write(f"{port}\n")
    sys.stdout.flush()
    stop.wait()
    server.stop(grace=1).wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
