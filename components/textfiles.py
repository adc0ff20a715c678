"""Scripts and server configs the components ship, kept as files in `components/files/`."""

from __future__ import annotations

from functools import cache
from pathlib import Path

FILES = Path(__file__).resolve().parent / "files"


@cache
def read(name: str) -> str:
    """The text of `components/files/<name>`."""
    return (FILES / name).read_text()
