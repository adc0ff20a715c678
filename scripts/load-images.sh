#!/usr/bin/env bash
# Build the platform's own images and load them into the kind cluster, tagged by git commit
# (`git rev-parse --short HEAD` of the source repository) instead of seed 000's
# YYYYMMDD-HHMMSS timestamps, then print the `pulumi config set` lines that deploy that tag.
#
#   scripts/load-images.sh [SOURCE_DIR] [IMAGE=CONTEXT ...]
#
# SOURCE_DIR: the application repository (default $AEGIS_SOURCE, else .); its commit is the tag.
# IMAGE=CONTEXT: an image repository and its Docker build context, relative to SOURCE_DIR.
# Without any, the seed 000 images: aegistrader-monitor-api=monitor-api and
# aegistrader-monitor-ui=monitor-ui. A dirty work tree is refused (the tag would lie) unless
# ALLOW_DIRTY=1, which tags <commit>-dirty-<unix time> so the cluster never reuses a stale image.
# OrbStack shares Docker's image store with its cluster, so nothing is loaded there.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"

SOURCE="${AEGIS_SOURCE:-.}"
if [ $# -gt 0 ] && [[ "$1" != *=* ]]; then
  SOURCE="$1"
  shift
fi
SOURCE="$(cd "$SOURCE" && pwd)"
if [ $# -gt 0 ]; then
  IMAGES=("$@")
else
  IMAGES=("aegistrader-monitor-api=monitor-api" "aegistrader-monitor-ui=monitor-ui")
fi

for tool in docker git; do
  command -v "$tool" >/dev/null || { echo "missing prerequisite: $tool" >&2; exit 2; }
done
TAG="$(git -C "$SOURCE" rev-parse --short HEAD)"
if [ -n "$(git -C "$SOURCE" status --porcelain)" ]; then
  if [ "${ALLOW_DIRTY:-0}" != "1" ]; then
    echo "$SOURCE has uncommitted changes: commit them, or ALLOW_DIRTY=1 for a throw-away tag" >&2
    exit 2
  fi
  TAG="$TAG-dirty-$(date +%s)"
fi

CONTEXT="$(sed -n 's/^ *trading-platform:kubeContext: *//p' "$ROOT/Pulumi.dev.yaml")"
CLUSTER="$(sed -n 's/^name: *//p' "$ROOT/scripts/kind-config.yaml")"
if [ "$CONTEXT" = "kind-$CLUSTER" ]; then
  command -v kind >/dev/null || { echo "missing prerequisite: kind" >&2; exit 2; }
fi

config_lines=()
for entry in "${IMAGES[@]}"; do
  image="${entry%%=*}"
  context="$SOURCE/${entry#*=}"
  [ -d "$context" ] || { echo "no build context $context for $image" >&2; exit 2; }
  echo "building $image:$TAG from $context"
  docker build --tag "$image:$TAG" "$context"
  if [ "$CONTEXT" = "kind-$CLUSTER" ]; then
    kind load docker-image "$image:$TAG" --name "$CLUSTER"
  fi
  # Which setting deploys the image: the application images share their tier's tag (a trading
  # service's image is named as the service, seed 001; stacks/catalogue.yaml lists them).
  case "$image" in
    aegistrader-*) line="pulumi config set --stack dev --path --type string ui.images.tag $TAG" ;;
    hft-engine) line="pulumi config set --stack dev --path engine.image $image:$TAG" ;;
    hft-backend) line="pulumi config set --stack dev --path api.backend.image $image:$TAG" ;;
    *)
      if grep -q "^  $image:\$" "$ROOT/stacks/catalogue.yaml"; then
        line="pulumi config set --stack dev --path --type string tradingServices.images.tag $TAG"
      else
        line="# $image:$TAG loaded; set the image setting of the tier that runs it"
      fi
      ;;
  esac
  if [[ ! " ${config_lines[*]-} " == *" $line "* ]]; then
    config_lines+=("$line")
  fi
done

echo
echo "images tagged $TAG. Deploy them with:"
printf '  %s\n' "${config_lines[@]}"
echo "  pulumi up --stack dev"
