#!/usr/bin/env bash
# One command from a fresh clone to a running dev stack on kind:
#   virtualenv and dependencies, a local file state backend when none is configured,
#   the kind cluster when it is missing, then `pulumi up --stack dev`.
# Extra arguments go to `pulumi up` (e.g. --yes). STACK=prod is refused: production goes
# through the approved pipeline.
set -euo pipefail
cd "$(dirname "$0")/.."
STACK="${STACK:-dev}"
if [ "$STACK" != "dev" ]; then
  echo "scripts/up.sh only deploys the dev stack; production runs through the approved workflow" >&2
  exit 2
fi
for tool in pulumi kubectl; do
  command -v "$tool" >/dev/null || { echo "missing prerequisite: $tool (see README)" >&2; exit 2; }
done

bash scripts/setup-venv.sh requirements.txt

# State: keep whatever backend the user is logged into; otherwise a file backend in the repo.
if ! pulumi whoami >/dev/null 2>&1; then
  mkdir -p .pulumi-state
  export PULUMI_BACKEND_URL="file://$PWD/.pulumi-state"
  # Local dev secrets: an empty passphrase unless one is provided.
  export PULUMI_CONFIG_PASSPHRASE="${PULUMI_CONFIG_PASSPHRASE-}"
fi

# Cluster: kind-aegis-local is created when missing; OrbStack's context is used as it is.
bash scripts/kind-up.sh

pulumi stack select dev 2>/dev/null || pulumi stack init dev
# The provider holds each Service 10 s after its endpoints settle; the engine's default of four
# operations per core queues those waits (docs/testing.md, "End to end": about half the time of an up).
export PULUMI_PARALLEL="${PULUMI_PARALLEL:-32}"
pulumi up --stack dev "$@"
