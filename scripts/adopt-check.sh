#!/usr/bin/env bash
# Pre-flight, snapshot and verification for adopting seed 000's live `aegis-trader` Helm release
# (docs/adoption.md). Reads the cluster with `kubectl get` only; changes nothing.
#   scripts/adopt-check.sh                              # check: exit 1 naming what is wrong
#   scripts/adopt-check.sh snapshot --out before.json   # before `pulumi up`
#   scripts/adopt-check.sh verify --before before.json  # after it
# Options: --stack adopt (default, Pulumi.adopt.yaml),
#          --live FILE (a saved `kubectl get -o json` list),
#          --recreate StatefulSet/NAME (see docs/adoption.md).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || bash scripts/setup-venv.sh requirements.txt
command="check"
case "${1:-}" in
  check|snapshot|verify) command="$1"; shift ;;
esac
exec .venv/bin/python -m tools.adopt "$command" "$@"
