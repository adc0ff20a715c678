#!/usr/bin/env bash
# The local cluster the dev stack targets: Pulumi.dev.yaml's kubeContext.
#   kind-aegis-local (default)  -> create kind cluster `aegis-local` from scripts/kind-config.yaml
#                                  (Kubernetes 1.27.3 as in seed 000) unless it already exists
#   orbstack                    -> use OrbStack's built-in cluster; nothing is created
# Idempotent; prints the context it leaves ready. Usage: scripts/kind-up.sh [--context NAME]
set -euo pipefail
cd "$(dirname "$0")/.."

CONTEXT="$(sed -n 's/^ *trading-platform:kubeContext: *//p' Pulumi.dev.yaml)"
if [ "${1:-}" = "--context" ] && [ -n "${2:-}" ]; then
  CONTEXT="$2"
fi
CLUSTER="$(sed -n 's/^name: *//p' scripts/kind-config.yaml)"

command -v kubectl >/dev/null || { echo "missing prerequisite: kubectl" >&2; exit 2; }
# Read the list once: `kubectl ... | grep -q` under pipefail fails when grep stops early.
CONTEXTS="$(kubectl config get-contexts -o name)"
has_context() { grep -qx "$1" <<<"$CONTEXTS"; }

case "$CONTEXT" in
  orbstack)
    if ! has_context orbstack; then
      echo "context orbstack not found: start OrbStack and enable Kubernetes (Settings > Kubernetes)" >&2
      exit 2
    fi
    echo "using OrbStack's cluster (context orbstack); no kind cluster needed"
    ;;
  "kind-$CLUSTER")
    if has_context "$CONTEXT"; then
      echo "kind cluster $CLUSTER exists (context $CONTEXT)"
    else
      command -v kind >/dev/null || { echo "missing prerequisite: kind" >&2; exit 2; }
      kind create cluster --name "$CLUSTER" --config scripts/kind-config.yaml --wait 120s
    fi
    ;;
  *)
    echo "Pulumi.dev.yaml's kubeContext is $CONTEXT: neither kind-$CLUSTER (scripts/kind-config.yaml) nor orbstack; create that cluster yourself" >&2
    exit 2
    ;;
esac
kubectl --context "$CONTEXT" cluster-info >/dev/null
echo "ready: kubectl --context $CONTEXT"
