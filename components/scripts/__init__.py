"""Shell scripts the components run in containers, kept as files beside the code (data, not
Python strings): `script("name.sh")` returns one's text."""

from __future__ import annotations

from functools import cache
from pathlib import Path

DIRECTORY = Path(__file__).resolve().parent


@cache
def script(name: str) -> str:
    """The text of `components/scripts/<name>`; a missing file is an error, never empty."""
    return (DIRECTORY / name).read_text()
