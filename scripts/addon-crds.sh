#!/usr/bin/env bash
# The CRDs of add-ons the platform declares objects of without installing them (cert-manager's
# Certificate), taken from each add-on's published Go module at the version stacks/versions.py
# pins (ADDON_CRDS), into a cache outside the repository. tests/test_schemas.py validates those
# objects against them and scripts/control-plane.sh loads them; both say so when they are absent.
#
#   scripts/addon-crds.sh          download what is missing, print the folder
#   scripts/addon-crds.sh --path   print the folder (downloaded or not)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
E2E_CACHE="${E2E_CACHE:-$HOME/.cache/aegis-e2e}"
out="$E2E_CACHE/crds"
if [ "${1:-}" = --path ]; then
  echo "$out"
  exit 0
fi
# One line per file: <add-on> <module> <version> <path in the module>.
entries=$(python3 -c 'import runpy, sys
for name, crd in runpy.run_path(sys.argv[1])["ADDON_CRDS"].items():
    for path in crd["files"]:
        print(name, crd["module"], crd["version"], path)' "$root/stacks/versions.py")
while read -r name module version path; do
  target="$out/$name-$version/$(basename "$path")"
  [ -s "$target" ] && continue
  command -v go >/dev/null || { echo "addon-crds: go is not installed" >&2; exit 1; }
  export GOMODCACHE="$E2E_CACHE/go/mod" GOFLAGS=-modcacherw GOTOOLCHAIN=local
  dir=$(go mod download -json "$module@$version" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["Dir"])')
  mkdir -p "$(dirname "$target")"
  cp "$dir/$path" "$target.partial"
  mv "$target.partial" "$target"
done <<<"$entries"
echo "$out"
