"""CPU and memory quantities (self-contained: the pack runs without the program's packages)."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

_CPU = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(m?)$")
_BYTES = re.compile(r"^([0-9]+(?:\.[0-9]+)?)([KMGTPE]i?|k|m)?$")
_BYTE_UNITS = {
    None: 1,
    "k": 10**3,
    "K": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "P": 10**15,
    "E": 10**18,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
    "Pi": 2**50,
    "Ei": 2**60,
}


def cpu_cores(value: Any) -> Decimal | None:
    match = _CPU.match(str(value).strip()) if value is not None else None
    if not match:
        return None
    try:
        number = Decimal(match[1])
    except InvalidOperation:
        return None
    return number / 1000 if match[2] == "m" else number


def memory_bytes(value: Any) -> Decimal | None:
    match = _BYTES.match(str(value).strip()) if value is not None else None
    if not match:
        return None
    if match[2] == "m":  # milli-bytes, legal but odd
        return Decimal(match[1]) / 1000
    return Decimal(match[1]) * _BYTE_UNITS[match[2]]


def format_memory(value: Decimal) -> str:
    gib = value / 2**30
    return f"{gib.normalize():f}Gi" if gib >= 1 else f"{(value / 2**20).normalize():f}Mi"
