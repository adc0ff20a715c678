#!/usr/bin/env bash
# End to end with the real engine: for each stack (default: dev prod), start a local control plane
# with simulated nodes (scripts/control-plane.sh), then with the Pulumi CLI and the Kubernetes
# provider built by scripts/e2e-tools.sh run scripts/e2e/run.py: up converges from empty, a
# no-change preview, the policy pack in a real preview, a routine change in place, in prod a
# refused protected replacement and a refused destroy (production sizing: prod, staging), in dev a
# destroy that leaves nothing.
# Prints one line per step and a summary line; exits non-zero on any failure.
#
#   scripts/e2e.sh [--bench] [dev] [staging] [prod]     (default: all three)
#
# --bench also times kubectl apply --server-side / diff --server-side of the offline render on
# the same control plane (reported beside pulumi's times). Set E2E_KEEP=1 to leave the control
# plane running afterwards. On a real cluster (the kind workflow) set E2E_CLUSTER=existing and
# KUBECONFIG: no control plane is started.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

bench=()
stacks=()
for arg in "$@"; do
  case "$arg" in
    --bench) bench=(--bench) ;;
    dev | staging | prod) stacks+=("$arg") ;;
    *) echo "usage: $0 [--bench] [dev] [staging] [prod]" >&2; exit 2 ;;
  esac
done
[ ${#stacks[@]} -gt 0 ] || stacks=(dev prod staging)

existing=${E2E_CLUSTER:-}
if [ "$existing" != existing ]; then
  bash scripts/e2e-tools.sh --check >/dev/null || {
    echo "e2e: the tools are not built; run scripts/e2e-tools.sh (about an hour cold)" >&2
    exit 1
  }
  eval "$(bash scripts/e2e-tools.sh --env)"
  # The Python language host and the random provider are not published as Go modules: the
  # program runs in-process (run.py), the policy pack as a binary analyzer (run-policy-pack), and
  # a real pulumi-resource-random found on PATH wins over the stand-in appended last.
  export PATH="$PULUMI_DIR:$KUBERNETES_PROVIDER_DIR:$PATH:$root/scripts/e2e/bin"
  export KUBECTL="$KUBE_DIR/kubectl"
  export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true PULUMI_DISABLE_REGISTRY_RESOLVE=true
  export E2E_POLICY_RUNNER=1
else
  export KUBECTL="${KUBECTL:-kubectl}"
fi
command -v pulumi >/dev/null || { echo "e2e: no pulumi CLI on PATH" >&2; exit 1; }
bash scripts/setup-venv.sh requirements-dev.txt
export E2E_PYTHON="$root/.venv/bin/python"

work="${E2E_WORK:-/tmp/aegis-e2e/work}"
rm -rf "$work"
mkdir -p "$work"
export PULUMI_HOME="$work/pulumi-home"
export PULUMI_BACKEND_URL="file://$work/state"
export PULUMI_CONFIG_PASSPHRASE=e2e
export PULUMI_SKIP_UPDATE_CHECK=true
export PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK=true
mkdir -p "$work/state"

status=0
for stack in "${stacks[@]}"; do
  if [ "$existing" != existing ]; then
    bash scripts/control-plane.sh down "$stack" >/dev/null
    bash scripts/control-plane.sh up "$stack"
    eval "$(bash scripts/control-plane.sh env "$stack")"
  fi
  "$E2E_PYTHON" scripts/e2e/run.py stack "$stack" --work "$work" "${bench[@]}" || status=1
  if [ "$existing" != existing ] && [ -z "${E2E_KEEP:-}" ]; then
    bash scripts/control-plane.sh down "$stack" >/dev/null
  fi
done

"$E2E_PYTHON" - "$work" "${stacks[@]}" <<'EOF'
import json, pathlib, sys
work, stacks = pathlib.Path(sys.argv[1]), sys.argv[2:]
passed = failed = 0
for stack in stacks:
    path = work / f"result-{stack}.json"
    if not path.exists():
        failed += 1
        print(f"e2e {stack}: no result")
        continue
    report = json.loads(path.read_text())
    ok = sum(1 for _, good, _ in report["results"] if good)
    passed, failed = passed + ok, failed + len(report["results"]) - ok
    t = report["timings"]
    if "kubectl diff" in t:
        preview, diff = t.get("pulumi preview (no change)", 0), t["kubectl diff"] or 0.1
        up, apply = t.get("pulumi up", 0), t.get("kubectl apply + rollouts") or 0.1
        print(f"e2e {stack} bench: up {up}s vs kubectl apply+rollouts {apply}s ({up / apply:.2f}x); "
              f"no-change preview {preview}s vs kubectl diff {diff}s ({preview / diff:.2f}x)")
print(f"e2e: {passed} passed, {failed} failed")
EOF
exit $status
