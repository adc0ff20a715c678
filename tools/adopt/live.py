"""The cluster, read only: `kubectl get` of the release's objects and the names of Helm's release
records, or a saved `kubectl get -o json` list."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

from tools.adopt.manifests import dig
from tools.adopt.model import LIVE_KINDS, RELEASE, Manifest

Runner = Callable[[list[str]], str]


def run_kubectl(args: list[str]) -> str:
    return subprocess.run(args, check=True, capture_output=True, text=True).stdout


def fetch_live(context: str, namespace: str, run: Runner = run_kubectl) -> list[Manifest]:
    base = ["kubectl", "--context", context, "--namespace", namespace, "get"]
    items = list(json.loads(run([*base, LIVE_KINDS, "--output", "json"])).get("items") or [])
    secrets = json.loads(
        run([*base, "secrets", "--selector", f"owner=helm,name={RELEASE}", "--output", "json"])
    )
    # Only the names of Helm's release records are kept, never their data.
    for secret in secrets.get("items") or []:
        items.append({"kind": "Secret", "metadata": {"name": dig(secret, "metadata", "name")}})
    return items


def read_live(path: Path) -> list[Manifest]:
    document = json.loads(path.read_text())
    return list(document.get("items") or []) if isinstance(document, dict) else list(document)
