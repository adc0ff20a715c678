"""Every value the credential generator can produce, and every plausible external secret value
(printable ASCII, spaces and quotes included), is accepted by each real consumer: nats-server
with production's command, Redis through its start script (issue 14). PostgreSQL's roles and
connection URL: tests/test_real_postgres.py.

The generator's alphabet and length are read from the recorded `RandomPassword` inputs.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.real.credentials import NUMBER_LIKE, external_values, generated_values, the_generator
from tests.real.pod import program, running
from tests.real.redis import started
from tests.test_real_nats import Ports, connects, loopback, server_argv
from tools.offline import Recording

pytestmark = pytest.mark.real

EXAMPLES = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def test_the_generator_is_what_the_strategy_draws_from(prod: Recording) -> None:
    nats = the_generator(prod, "message-bus-auth-password")
    assert nats.length == 32
    assert set(nats.alphabet) == set(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
    )


def test_nats_server_accepts_every_password(prod: Recording) -> None:
    program("nats-server")

    @EXAMPLES
    @given(password=st.one_of(generated_values(prod), external_values))
    @example(password=NUMBER_LIKE[0])
    @example(password=NUMBER_LIKE[1])
    @example(password="a b{c}d;e,f'g\"h\\i$j")
    def check(password: str) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            workdir = Path(tmp)
            ports = Ports.free()
            argv, env = server_argv(prod, workdir, 0, password)
            with running(
                [*argv, *loopback(ports, [ports])], workdir / "log", env=env, port=ports.client
            ):
                assert connects(ports.client, "trading", password) == "ok"

    check()


def test_redis_accepts_every_password(stack: Recording) -> None:
    recording = stack
    program("redis-server")

    @EXAMPLES
    @given(password=st.one_of(generated_values(recording), external_values))
    @example(password='quo"te')
    @example(password="back\\slash\\x41")
    def check(password: str) -> None:
        with tempfile.TemporaryDirectory() as tmp, started(recording, Path(tmp), password) as redis:
            assert redis.cli("PING") == "PONG"

    check()
