"""Credentials: generated and kept secret, or read from an external store with nothing in state."""

from __future__ import annotations

import pytest

from stacks.errors import ConfigError
from tools.offline import Recording, is_secret, run_stack


@pytest.fixture(scope="module")
def external() -> Recording:
    return run_stack("prod", {"secrets": {"mode": "external", "store": "vault-trading"}})


def test_generated_credentials_are_protected_pulumi_secrets(prod: Recording) -> None:
    passwords = [
        r for r in prod.resources if r.type == "random:index/randomPassword:RandomPassword"
    ]
    assert passwords and all(p.protect and p.retain_on_delete for p in passwords)
    for secret in prod.of_kind("Secret"):
        assert is_secret(secret.inputs["stringData"]), secret.object_name


def test_external_mode_generates_nothing(external: Recording) -> None:
    assert not [r for r in external.resources if r.type.startswith("random:")]
    assert external.of_kind("Secret") == []
    (nats,) = [
        r for r in external.of_kind("ExternalSecret") if r.object_name == "aegis-trader-nats-auth"
    ]
    spec = nats.manifest()["spec"]
    assert spec["secretStoreRef"] == {"kind": "ClusterSecretStore", "name": "vault-trading"}
    assert spec["target"]["name"] == "aegis-trader-nats-auth"
    template = spec["target"]["template"]["data"]
    assert template["password"] == "{{ .password }}" and template["user"] == "trading"
    # The server's included block, templated from the same store property.
    assert template["auth.conf"] == (
        'authorization {\n  user: "trading"\n'
        '  password: "{{ .password | replace "\\\\" "\\\\\\\\" | replace "\\"" "\\\\\\"" }}"\n}\n'
    )
    assert spec["data"] == [
        {
            "secretKey": "password",
            "remoteRef": {"key": "aegis-trader/aegis-trader-nats-auth", "property": "password"},
        }
    ]


def test_external_mode_needs_a_store() -> None:
    recording = Recording("dev")
    with pytest.raises(ConfigError) as raised:
        run_stack("dev", {"secrets": {"mode": "external"}}, recording=recording)
    assert recording.resources == []
    assert "trading-platform:secrets" in str(raised.value)
    assert "'external'" in str(raised.value)
    assert "ClusterSecretStore" in str(raised.value)
