"""Strict parsing of Kubernetes resource quantities.

Stack settings validate with these before any resource exists, and the render summary adds them
up; `4GB` or `1.5 cpu` are rejected rather than passed on to the API server.
"""

from __future__ import annotations

import re
from decimal import Decimal

_CPU = re.compile(r"^(?P<num>\d+(\.\d+)?)(?P<unit>m?)$")
_BYTES = re.compile(r"^(?P<num>\d+(\.\d+)?)(?P<unit>Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$")
_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {"k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18}

CPU_FORMAT = "a CPU quantity such as 250m, 0.5 or 2"
BYTES_FORMAT = "a byte quantity such as 512Mi, 4Gi or 10Gi (binary suffixes Ki..Ei, or k..E)"


def parse_cpu(value: str | int | float) -> Decimal:
    """CPU quantity in cores; raises ValueError for anything Kubernetes would not accept."""
    text = str(value).strip()
    match = _CPU.match(text)
    if not match:
        raise ValueError(f"{value!r} is not {CPU_FORMAT}")
    cores = Decimal(match["num"])
    return cores / 1000 if match["unit"] == "m" else cores


def parse_bytes(value: str | int) -> int:
    """Memory or storage quantity in bytes; raises ValueError for e.g. `4GB`."""
    text = str(value).strip()
    match = _BYTES.match(text)
    if not match:
        raise ValueError(f"{value!r} is not {BYTES_FORMAT}")
    unit = match["unit"] or ""
    factor = _BINARY.get(unit) or _DECIMAL.get(unit) or 1
    return int(Decimal(match["num"]) * factor)


def format_cpu(cores: Decimal) -> str:
    millis = int(cores * 1000)
    return f"{millis // 1000}" if millis % 1000 == 0 else f"{millis}m"


def format_bytes(count: int) -> str:
    for unit in ("Ti", "Gi", "Mi", "Ki"):
        factor = _BINARY[unit]
        if count >= factor and count % factor == 0:
            return f"{count // factor}{unit}"
    if count >= _BINARY["Gi"]:
        return f"{count / _BINARY['Gi']:.2f}Gi"
    return f"{count / _BINARY['Mi']:.1f}Mi"
