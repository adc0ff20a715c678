#!/usr/bin/env bash
# Build a collector with the OpenTelemetry Collector Builder, from Go modules, at the collector
# version the pinned opentelemetry-collector chart runs (stacks/versions.py, its appVersion), with
# the components of scripts/otelcol/manifest.yaml. Into the e2e cache, outside the repository;
# a second run builds nothing. tests/test_real_otel.py validates each stack's collector
# configurations with it and skips, naming this script, where it is not built.
#
#   scripts/otelcol-build.sh          build when missing (about 15 min cold on two cores)
#   scripts/otelcol-build.sh --path   print where the binary is (built or not)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
version=$(python3 -c 'import runpy, sys
charts = runpy.run_path(sys.argv[1])["CHARTS"]
print(charts["opentelemetry-collector"]["appVersion"].lstrip("v"))' "$root/stacks/versions.py")
E2E_CACHE="${E2E_CACHE:-$HOME/.cache/aegis-e2e}"
out="$E2E_CACHE/bin/otelcol-v$version"
binary="$out/otelcol-aegis"
if [ "${1:-}" = --path ]; then
  echo "$binary"
  exit 0
fi
manifest_sum=$(sha256sum "$root/scripts/otelcol/manifest.yaml" | cut -d' ' -f1)
if [ -x "$binary" ] && [ "$(cat "$out/STAMP" 2>/dev/null)" = "$manifest_sum" ]; then
  echo "$binary"
  exit 0
fi
command -v go >/dev/null || { echo "otelcol-build: go is not installed" >&2; exit 1; }
export GOMODCACHE="$E2E_CACHE/go/mod" GOCACHE="$E2E_CACHE/go/build"
export GOFLAGS=-modcacherw CGO_ENABLED=0 GOTOOLCHAIN=local
work="$E2E_CACHE/wrap/otelcol-$version"
rm -rf "$work" && mkdir -p "$work" "$out"
GOBIN="$work" go install "go.opentelemetry.io/collector/cmd/builder@v$version"
python3 - "$root/scripts/otelcol/manifest.yaml" "$work/manifest.yaml" "$version" "$work/src" <<'PY'
import string, sys
source, target, version, output = sys.argv[1:]
text = string.Template(open(source).read()).substitute(VERSION=version, OUTPUT=output)
open(target, "w").write(text)
PY
"$work/builder" --config "$work/manifest.yaml"
install -m 0755 "$work/src/otelcol-aegis" "$binary"
echo "$manifest_sum" > "$out/STAMP"
echo "$binary"
