"""What the credential generator can produce, and what an external secret store may hold.

The recorded graph holds each `RandomPassword`'s inputs; under mocks its result is the
placeholder `offline-<name>`, which is how a Secret's generated keys are recognised.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

from tools.offline import Recording

RANDOM_PASSWORD = "random:index/randomPassword:RandomPassword"
# pulumi_random's character classes (special characters only with `special`).
SPECIAL = "!@#$%&*()-_=+[]{}<>:?"
# Values from the problem report (issue 14): nats-server read each as a number with a unit.
NUMBER_LIKE = ("4E1nq8rYzXwV2kLm5Tb9Hc3Jd7Pf6Gs0", "0G0pQ4vT8xZ2bN6mK1sW5yR9cL3hJ7fD", "3P1M")


@dataclass(frozen=True)
class Generator:
    placeholder: str
    length: int
    alphabet: str

    def values(self) -> st.SearchStrategy[str]:
        return st.text(alphabet=self.alphabet, min_size=self.length, max_size=self.length)


def alphabet(inputs: dict[str, Any]) -> str:
    chars = ""
    if inputs.get("upper", True):
        chars += string.ascii_uppercase
    if inputs.get("lower", True):
        chars += string.ascii_lowercase
    if inputs.get("numeric", True):
        chars += string.digits
    if inputs.get("special", True):
        chars += inputs.get("overrideSpecial") or SPECIAL
    return chars


def generators(recording: Recording) -> list[Generator]:
    found = [
        Generator(f"offline-{r.name}", int(r.inputs["length"]), alphabet(r.inputs))
        for r in recording.resources
        if r.type == RANDOM_PASSWORD
    ]
    assert found, f"{recording.stack} generates no password"
    return found


def the_generator(recording: Recording, placeholder_suffix: str) -> Generator:
    (found,) = (g for g in generators(recording) if g.placeholder.endswith(placeholder_suffix))
    return found


def generated_values(recording: Recording) -> st.SearchStrategy[str]:
    """Any value any of the stack's generators can produce."""
    return st.one_of(*(g.values() for g in generators(recording)))


# What an operator may put in a secret store: printable ASCII, spaces and quotes included, on one
# line (the consumers read files and variables whose trailing newline is not part of the value).
EXTERNAL_ALPHABET = "".join(chr(c) for c in range(0x20, 0x7F))
external_values = st.text(alphabet=EXTERNAL_ALPHABET, min_size=1, max_size=64).filter(
    lambda value: value.strip() == value
)


def secrets_with(
    recording: Recording, names: tuple[str, ...], value: str
) -> dict[str, dict[str, str]]:
    """The named Secrets' data, every generated key set to `value`."""
    out: dict[str, dict[str, str]] = {}
    for name in names:
        data = recording.get("Secret", name).manifest()["stringData"]
        out[name] = {
            key: value if str(v).startswith("offline-") else str(v) for key, v in data.items()
        }
    return out
