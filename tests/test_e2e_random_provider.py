"""The e2e run's stand-in random provider, driven over gRPC the way the Pulumi engine drives it."""

from __future__ import annotations

import importlib.util
import select
import signal
import string
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc  # type: ignore[import-untyped]
import pytest
from google.protobuf import empty_pb2, json_format, struct_pb2  # type: ignore[import-untyped]
from pulumi.runtime import rpc
from pulumi.runtime.proto import provider_pb2, provider_pb2_grpc

PLUGIN = Path(__file__).resolve().parents[1] / "scripts" / "e2e" / "random_provider.py"
TYPE = "random:index/randomPassword:RandomPassword"
URN = f"urn:pulumi:dev::trading-platform::trading:platform:Credentials${TYPE}::db-password"
SECRET = {rpc._special_sig_key: rpc._special_secret_sig}
ALPHANUMERIC = set(string.ascii_letters + string.digits)


def start_plugin() -> tuple[subprocess.Popen[str], int]:
    """Start the plugin as the engine does and read the port it prints."""
    process = subprocess.Popen(
        [sys.executable, str(PLUGIN), "127.0.0.1:1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], 15)
    if not ready:
        process.kill()
        pytest.fail("the plugin printed no port within 15s")
    line = process.stdout.readline()
    if not line.strip().isdigit():
        process.kill()
        _, stderr = process.communicate(timeout=5)
        pytest.fail(f"the plugin printed {line!r} instead of a port; stderr: {stderr}")
    return process, int(line)


def stop_plugin(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.kill()
    process.communicate(timeout=10)


@pytest.fixture(scope="module")
def provider() -> Iterator[Any]:
    process, port = start_plugin()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    try:
        grpc.channel_ready_future(channel).result(timeout=10)
        yield provider_pb2_grpc.ResourceProviderStub(channel)
    finally:
        channel.close()
        stop_plugin(process)


def struct(values: dict[str, Any]) -> Any:
    message = struct_pb2.Struct()
    message.update(values)
    return message


def plain(message: Any) -> dict[str, Any]:
    values: dict[str, Any] = json_format.MessageToDict(message)
    return values


def check(provider: Any, news: dict[str, Any]) -> Any:
    return provider.Check(
        provider_pb2.CheckRequest(urn=URN, type=TYPE, name="db-password", news=struct(news))
    )


def checked(provider: Any, news: dict[str, Any]) -> dict[str, Any]:
    response = check(provider, news)
    assert list(response.failures) == []
    return plain(response.inputs)


def create(provider: Any, inputs: dict[str, Any], preview: bool = False) -> Any:
    return provider.Create(
        provider_pb2.CreateRequest(
            urn=URN, type=TYPE, name="db-password", properties=struct(inputs), preview=preview
        )
    )


def diff(provider: Any, olds: dict[str, Any], news: dict[str, Any]) -> Any:
    return provider.Diff(
        provider_pb2.DiffRequest(
            id="none", urn=URN, type=TYPE, name="db-password", olds=struct(olds), news=struct(news)
        )
    )


def test_plugin_info_reports_the_pinned_sdk_version(provider: Any) -> None:
    assert provider.GetPluginInfo(empty_pb2.Empty()).version == "4.21.4"


def test_handshake_and_configure_accept_secrets_and_previews(provider: Any) -> None:
    handshake = provider.Handshake(provider_pb2.ProviderHandshakeRequest(engine_address="x"))
    assert handshake.accept_secrets and handshake.accept_resources
    configured = provider.Configure(provider_pb2.ConfigureRequest(acceptSecrets=True))
    assert configured.acceptSecrets and configured.supportsPreview and configured.acceptResources


def test_check_applies_the_real_providers_defaults(provider: Any) -> None:
    assert checked(provider, {"length": 32, "special": False}) == {
        "length": 32,
        "special": False,
        "upper": True,
        "lower": True,
        "numeric": True,
        "number": True,
        "minUpper": 0,
        "minLower": 0,
        "minNumeric": 0,
        "minSpecial": 0,
    }


@pytest.mark.parametrize(
    "news",
    [{"length": 0}, {"special": False}, {"length": 4, "minUpper": 3, "minNumeric": 2}],
    ids=["zero", "missing", "below-minimums"],
)
def test_check_rejects_a_bad_length(provider: Any, news: dict[str, Any]) -> None:
    failures = check(provider, news).failures
    assert [failure.property for failure in failures] == ["length"]


def test_check_keeps_secret_inputs_secret(provider: Any) -> None:
    inputs = checked(provider, {"length": 8, "overrideSpecial": {**SECRET, "value": "!?"}})
    assert inputs["overrideSpecial"] == {**SECRET, "value": "!?"}


def test_create_honours_length_and_special(provider: Any) -> None:
    inputs = checked(provider, {"length": 32, "special": False})
    first, second = create(provider, inputs), create(provider, inputs)
    results = []
    for response in (first, second):
        outputs = plain(response.properties)
        assert response.id == "none"
        assert outputs["id"] == "none"
        assert {key: outputs[key] for key in inputs} == inputs
        assert isinstance(outputs["bcryptHash"], str)
        result = outputs["result"]
        assert len(result) == 32
        assert set(result) <= ALPHANUMERIC
        results.append(result)
    assert results[0] != results[1]


def test_create_honours_minimums_and_override_special(provider: Any) -> None:
    inputs = checked(
        provider,
        {"length": 12, "upper": False, "minUpper": 3, "minSpecial": 2, "overrideSpecial": "#"},
    )
    result = plain(create(provider, inputs).properties)["result"]
    assert len(result) == 12
    assert sum(c.isupper() for c in result) == 3  # only the minimum: upper is off
    assert result.count("#") >= 2
    assert set(result) <= set(string.ascii_letters + string.digits + "#")


def test_create_in_a_preview_leaves_the_result_unknown(provider: Any) -> None:
    inputs = checked(provider, {"length": 32, "special": False})
    response = create(provider, inputs, preview=True)
    outputs = plain(response.properties)
    assert outputs["result"] == rpc.UNKNOWN
    assert outputs["length"] == 32
    assert response.id == ""


def test_diff_of_the_same_inputs_is_no_change(provider: Any) -> None:
    inputs = checked(provider, {"length": 32, "special": False})
    state = plain(create(provider, inputs).properties)
    response = diff(provider, {**state, "result": {**SECRET, "value": state["result"]}}, inputs)
    assert response.changes == provider_pb2.DiffResponse.DIFF_NONE
    assert list(response.replaces) == []


def test_diff_of_a_new_length_replaces(provider: Any) -> None:
    inputs = checked(provider, {"length": 32, "special": False})
    state = plain(create(provider, inputs).properties)
    response = diff(provider, state, {**inputs, "length": 16})
    assert response.changes == provider_pb2.DiffResponse.DIFF_SOME
    assert list(response.replaces) == ["length"]
    assert list(response.diffs) == ["length"]
    assert response.detailedDiff["length"].kind == provider_pb2.PropertyDiff.UPDATE_REPLACE
    assert not response.deleteBeforeReplace


def test_read_returns_the_state_unchanged(provider: Any) -> None:
    inputs = checked(provider, {"length": 10, "special": False})
    state = plain(create(provider, inputs).properties)
    response = provider.Read(
        provider_pb2.ReadRequest(
            id="none", urn=URN, type=TYPE, properties=struct(state), inputs=struct(inputs)
        )
    )
    assert response.id == "none"
    assert plain(response.properties) == state
    assert plain(response.inputs) == inputs


def test_delete_succeeds(provider: Any) -> None:
    inputs = checked(provider, {"length": 8})
    state = plain(create(provider, inputs).properties)
    request = provider_pb2.DeleteRequest(id="none", urn=URN, type=TYPE, properties=struct(state))
    assert provider.Delete(request) == empty_pb2.Empty()


def test_other_random_resources_are_refused(provider: Any) -> None:
    with pytest.raises(grpc.RpcError) as raised:
        provider.Create(
            provider_pb2.CreateRequest(
                urn=URN, type="random:index/randomString:RandomString", properties=struct({})
            )
        )
    assert raised.value.code() == grpc.StatusCode.UNIMPLEMENTED


def test_wire_sentinels_match_the_sdk() -> None:
    spec = importlib.util.spec_from_file_location("e2e_random_provider", PLUGIN)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    sentinels = (module.UNKNOWN, module.SIG_KEY, module.SECRET_SIG)
    assert sentinels == (rpc.UNKNOWN, rpc._special_sig_key, rpc._special_secret_sig)


def test_an_interrupt_stops_the_plugin_cleanly() -> None:
    """The engine interrupts a plugin before killing it."""
    process, _ = start_plugin()
    try:
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0
    finally:
        stop_plugin(process)
