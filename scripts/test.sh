#!/usr/bin/env bash
# Install what the tests need, then run them: pytest (offline, no cluster, plus the real-program
# tests of tests/test_real_*.py; `-m "not real"` runs the offline suite alone), ruff and mypy.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-test-programs.sh
.venv/bin/python -m pytest "$@"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy .
