"""Alert rules and dashboards as data: the PrometheusRule groups filled in from the thresholds,
and the Grafana dashboards."""

from __future__ import annotations

import json
import string
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

from components.observability.args import DASHBOARDS_DIR, SEVERITIES, AlertThresholds
from components.workload import Manifest


class _RuleTemplate(string.Template):
    # `$` belongs to Alertmanager's templates ({{ $labels.pod }}); placeholders are @{name}.
    delimiter = "@"


def _substitute(value: Any, values: Mapping[str, object]) -> Any:
    if isinstance(value, str):
        return _RuleTemplate(value).substitute(values)
    if isinstance(value, dict):
        return {k: _substitute(v, values) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, values) for v in value]
    return value


def _budget(slo: float, burn: float) -> str:
    """The error ratio at which a burn rate spends the SLO's error budget, in plain decimals."""
    return f"{(Decimal('1') - Decimal(str(slo))) * Decimal(str(burn)):f}"


def alert_groups(
    text: str,
    thresholds: AlertThresholds,
    *,
    namespace: str,
    release: str,
    kv_bucket: str | None,
) -> list[Manifest]:
    """The rule groups of `alerts.yaml`, placeholders filled in. A group with `requires: <flag>`
    is kept only when the flag holds (certManager, kvBucket). Every alert must carry a severity
    label and summary and runbook annotations."""
    flags = {"certManager": thresholds.cert_manager, "kvBucket": kv_bucket is not None}
    values = {
        "namespace": namespace,
        "release": release,
        "kv_stream": f"KV_{kv_bucket}",
        "error_rate": thresholds.error_rate,
        "p99_latency": thresholds.p99_latency_seconds,
        "restarts": thresholds.restarts_per_hour,
        "volume_ratio": thresholds.volume_full_ratio,
        "volume_percent": round(thresholds.volume_full_ratio * 100),
        "redis_memory_ratio": thresholds.redis_memory_ratio,
        "redis_memory_percent": round(thresholds.redis_memory_ratio * 100),
        "cert_expiry_seconds": thresholds.cert_expiry_days * 86400,
        "cert_expiry_days": thresholds.cert_expiry_days,
        # Multi-window burn rates (Google SRE workbook): 14.4x spends 2% of a 30-day budget in
        # an hour, 6x spends 5% in six hours.
        "slo_percent": f"{thresholds.slo_availability * 100:g}",
        "slo_burn_fast": _budget(thresholds.slo_availability, 14.4),
        "slo_burn_slow": _budget(thresholds.slo_availability, 6),
    }
    document = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)) or {}
    groups = []
    for group in document.get("groups") or []:
        group = dict(group)
        required = group.pop("requires", None)
        if required is not None:
            if required not in flags:
                raise ValueError(f"alert group {group.get('name')}: unknown requires {required!r}")
            if not flags[required]:
                continue
        for rule in group.get("rules") or []:
            name = rule.get("alert") or rule.get("record")
            if "alert" not in rule:
                continue
            severity = (rule.get("labels") or {}).get("severity")
            if severity not in SEVERITIES:
                raise ValueError(f"alert {name}: severity must be one of {', '.join(SEVERITIES)}")
            missing = [
                k for k in ("summary", "runbook") if not (rule.get("annotations") or {}).get(k)
            ]
            if missing:
                raise ValueError(f"alert {name}: annotations lack {', '.join(missing)}")
        groups.append(_substitute(group, values))
    return groups


@dataclass(frozen=True)
class Dashboard:
    stem: str
    uid: str
    title: str
    text: str


def load_dashboards(directory: Path = DASHBOARDS_DIR) -> list[Dashboard]:
    """Every `*.json` dashboard: valid JSON with a title and a uid no other dashboard uses."""
    dashboards: list[Dashboard] = []
    seen: dict[str, str] = {}
    for path in sorted(directory.glob("*.json")):
        text = path.read_text()
        try:
            body = json.loads(text)
        except json.JSONDecodeError as error:
            raise ValueError(f"dashboard {path.name} is not valid JSON: {error}") from None
        uid, title = body.get("uid"), body.get("title")
        if not uid or not title:
            raise ValueError(f"dashboard {path.name} needs a uid and a title")
        if uid in seen:
            raise ValueError(f"dashboard {path.name} reuses uid {uid!r} of {seen[uid]}")
        seen[uid] = path.name
        dashboards.append(Dashboard(path.stem, uid, title, text))
    return dashboards
