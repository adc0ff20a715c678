#!/usr/bin/env bash
# Install what the tests need, then run them: pytest (offline, no cluster), ruff and mypy.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-venv.sh requirements-dev.txt
.venv/bin/python -m pytest "$@"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy .
