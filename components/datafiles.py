"""One way to read the data files that sit beside the components: scripts, server configs and
static chart values. A file is named relative to the module that uses it (`__file__`)."""

from __future__ import annotations

import functools
import string
from pathlib import Path
from typing import Any

import yaml


def data_path(module_file: str, name: str) -> Path:
    """`name` (e.g. `values/loki.yaml`) beside the module whose `__file__` is given."""
    path = Path(module_file).resolve().parent / name
    if not path.is_file():
        raise FileNotFoundError(f"data file {path} is missing")
    return path


@functools.cache
def _read(path: Path) -> str:
    return path.read_text()


def read_text(module_file: str, name: str) -> str:
    return _read(data_path(module_file, name))


def read_yaml(module_file: str, name: str) -> dict[str, Any]:
    """A YAML mapping, parsed afresh on each call, so callers may merge into it."""
    document = yaml.safe_load(read_text(module_file, name)) or {}
    if not isinstance(document, dict):
        raise ValueError(f"{name}: expected a mapping at the top level")
    return document


class _Template(string.Template):
    # `@{name}`: the files are shell scripts and server configs, whose `$` stays as written.
    delimiter = "@"


def render(module_file: str, file_name: str, /, **values: object) -> str:
    """A text file with `@{placeholder}`s filled in from `values` (any name, `name` included); a
    missing value is an error, and `@@` stands for a literal `@`. Shell and config `$` are left
    as they are, so a template reads (and `sh -n` checks) like the script it renders."""
    return _Template(read_text(module_file, file_name)).substitute(values)
