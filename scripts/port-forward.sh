#!/usr/bin/env bash
# What seed 000's Makefile forwarded, with the dev stack's Service names:
#   NATS client 4222 and monitor 8222, monitor API 8100, monitor UI 3100,
#   plus the Nginx balancer on 8080 when the API tier is deployed.
# Runs until Ctrl-C, then stops every forward it started. Release, namespace and context come
# from Pulumi.dev.yaml; override with RELEASE, NAMESPACE, CONTEXT.
set -euo pipefail
cd "$(dirname "$0")/.."

setting() { sed -n "s/^ *trading-platform:$1: *//p" Pulumi.dev.yaml; }
RELEASE="${RELEASE:-$(setting release)}"
NAMESPACE="${NAMESPACE:-$(setting namespace)}"
CONTEXT="${CONTEXT:-$(setting kubeContext)}"
KUBECTL=(kubectl --context "$CONTEXT" --namespace "$NAMESPACE")

# service  local:remote port, one forward per line
FORWARDS=(
  "$RELEASE-nats 4222:4222"
  "$RELEASE-nats-headless 8222:8222"
  "$RELEASE-monitor-api 8100:8100"
  "$RELEASE-monitor-ui 3100:3100"
  "$RELEASE-nginx 8080:8080"
)

pids=()
stop() {
  for pid in ${pids[@]+"${pids[@]}"}; do
    kill "$pid" 2>/dev/null || true
  done
}
trap stop EXIT INT TERM

for forward in "${FORWARDS[@]}"; do
  service="${forward%% *}"
  ports="${forward#* }"
  if ! "${KUBECTL[@]}" get service "$service" >/dev/null 2>&1; then
    echo "skip $service: not deployed"
    continue
  fi
  "${KUBECTL[@]}" port-forward "service/$service" "$ports" >/dev/null &
  pids+=("$!")
  echo "localhost:${ports%%:*} -> $service:${ports#*:}"
done
if [ "${#pids[@]}" -eq 0 ]; then
  echo "nothing to forward in $NAMESPACE (context $CONTEXT): is the dev stack up?" >&2
  exit 1
fi
echo "forwarding; Ctrl-C to stop"
wait
