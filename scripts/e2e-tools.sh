#!/usr/bin/env bash
# Build the end-to-end tools from published Go modules into a cache outside the repository:
# the Pulumi CLI, pulumi-resource-kubernetes, kube-apiserver / kube-controller-manager /
# kube-scheduler / kubectl, etcd and KWOK. Versions come from stacks/versions.py (E2E_TOOLS).
# A family whose binaries and stamp are present is not built again. A cold build takes about
# an hour on two cores; run it in the background.
#
#   scripts/e2e-tools.sh          build what is missing, then print the manifest
#   scripts/e2e-tools.sh --check  exit 0 when every tool is built, 1 otherwise (builds nothing)
#   scripts/e2e-tools.sh --env    print the shell exports the e2e scripts use (builds nothing)
#
# E2E_CACHE (default ~/.cache/aegis-e2e) holds bin/<family>-v<version>/, wrap/ (the wrapper
# go.mod files: the exact record of what was built) and go/{mod,build}.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
eval "$(python3 "$here/../stacks/versions.py")"

E2E_CACHE="${E2E_CACHE:-$HOME/.cache/aegis-e2e}"
BIN="$E2E_CACHE/bin"
PULUMI_DIR="$BIN/pulumi-v$PULUMI_VERSION"
KUBERNETES_PROVIDER_DIR="$BIN/pulumi-resource-kubernetes-v$KUBERNETES_PROVIDER_VERSION"
KUBE_DIR="$BIN/kube-v$KUBERNETES_VERSION"
ETCD_DIR="$BIN/etcd-v$ETCD_VERSION"
KWOK_DIR="$BIN/kwok-v$KWOK_VERSION"

print_env() {
  cat <<EOF
export E2E_CACHE='$E2E_CACHE'
export PULUMI_DIR='$PULUMI_DIR'
export KUBERNETES_PROVIDER_DIR='$KUBERNETES_PROVIDER_DIR'
export KUBE_DIR='$KUBE_DIR'
export ETCD_DIR='$ETCD_DIR'
export KWOK_DIR='$KWOK_DIR'
export KWOK_SOURCE='$E2E_CACHE/go/mod/sigs.k8s.io/kwok@v$KWOK_VERSION'
EOF
}

# family directory -> binaries it must hold
families() {
  printf '%s\n' "$PULUMI_DIR pulumi" \
    "$KUBERNETES_PROVIDER_DIR pulumi-resource-kubernetes" \
    "$KUBE_DIR kube-apiserver kube-controller-manager kube-scheduler kubectl" \
    "$ETCD_DIR etcd" \
    "$KWOK_DIR kwok"
}

built() {  # built DIR BIN... : every binary present and the stamp matches this Go
  local dir=$1; shift
  [ "$(cat "$dir/STAMP" 2>/dev/null)" = "$(go env GOVERSION)" ] || return 1
  for b in "$@"; do [ -x "$dir/$b" ] || return 1; done
}

check() {
  local missing=0 line
  while read -r line; do
    # shellcheck disable=SC2086
    built $line || { echo "missing: ${line%% *}"; missing=1; }
  done < <(families)
  return $missing
}

case "${1:-}" in
  --env) print_env; exit 0 ;;
  --check) check; exit $? ;;
  "") ;;
  *) echo "usage: $0 [--check|--env]" >&2; exit 2 ;;
esac

command -v go >/dev/null || { echo "e2e-tools: go is not installed" >&2; exit 1; }
export GOMODCACHE="$E2E_CACHE/go/mod" GOCACHE="$E2E_CACHE/go/build"
export GOFLAGS=-modcacherw CGO_ENABLED=0 GOTOOLCHAIN=local
mkdir -p "$BIN" "$E2E_CACHE/wrap"

log() { printf '[e2e-tools %s] %s\n' "$(date +%H:%M:%S)" "$*"; }
mod_dir() { go mod download -json "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])'; }
wrapper() {  # wrapper NAME GO-LINE: a fresh wrapper module, entered
  local dir="$E2E_CACHE/wrap/$1"
  rm -rf "$dir" && mkdir -p "$dir" && cd "$dir"
  printf 'module aegis.e2e/%s\n\ngo %s\n' "$1" "$2" > go.mod
}
stamp() { go env GOVERSION > "$1/STAMP"; }

build_pulumi() {
  built "$PULUMI_DIR" pulumi && return
  log "pulumi v$PULUMI_VERSION"
  wrapper "pulumi-$PULUMI_VERSION" 1.26.0
  local pkg="github.com/pulumi/pulumi/pkg/v3@v$PULUMI_VERSION"
  # The CLI's own go.mod replaces the clipboard module with a fork; a wrapper must repeat it.
  go mod edit -json "$(go mod download -json "$pkg" | python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')" |
    python3 -c 'import json,sys
for r in json.load(sys.stdin).get("Replace") or []:
    if r["New"].get("Version"):
        print("%s=%s@%s" % (r["Old"]["Path"], r["New"]["Path"], r["New"]["Version"]))' |
    while read -r rep; do go mod edit -replace="$rep"; done
  go get -tool "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi@v$PULUMI_VERSION"
  go get "github.com/pulumi/pulumi/sdk/v3@v$PULUMI_VERSION"
  go mod tidy
  mkdir -p "$PULUMI_DIR"
  go build -trimpath -tags osusergo,grpcnotrace \
    -ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$PULUMI_VERSION" \
    -o "$PULUMI_DIR/pulumi" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi
  stamp "$PULUMI_DIR"
}

build_kubernetes_provider() {
  built "$KUBERNETES_PROVIDER_DIR" pulumi-resource-kubernetes && return
  log "pulumi-resource-kubernetes $KUBERNETES_PROVIDER_VERSION ($KUBERNETES_PROVIDER_MODULE_VERSION)"
  wrapper "pulumi-kubernetes-$KUBERNETES_PROVIDER_VERSION" 1.26.0
  local module="github.com/pulumi/pulumi-kubernetes/provider/v4"
  go get "$module@$KUBERNETES_PROVIDER_MODULE_VERSION"
  # main.go embeds schema-embed.json and terraform-mapping-embed.json, which upstream makes
  # with `go generate` and does not publish: copy the command and make them here.
  local src; src="$(mod_dir "$module@$KUBERNETES_PROVIDER_MODULE_VERSION")/cmd/pulumi-resource-kubernetes"
  mkdir -p cmd/pulumi-resource-kubernetes
  cp "$src"/main.go "$src"/*.json cmd/pulumi-resource-kubernetes/
  chmod -R u+w cmd
  python3 - "$KUBERNETES_PROVIDER_VERSION" cmd/pulumi-resource-kubernetes <<'EOF'
import json, pathlib, sys
version, d = sys.argv[1], pathlib.Path(sys.argv[2])
schema = json.loads((d / "schema.json").read_text())
schema["version"] = version
(d / "schema-embed.json").write_text(json.dumps(schema, separators=(",", ":")))
mapping = d / "terraform-mapping.json"
if mapping.exists():
    (d / "terraform-mapping-embed.json").write_text(json.dumps(json.loads(mapping.read_text()), separators=(",", ":")))
EOF
  go mod tidy
  mkdir -p "$KUBERNETES_PROVIDER_DIR"
  go build -trimpath \
    -ldflags "-s -w -X github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version.Version=$KUBERNETES_PROVIDER_VERSION" \
    -o "$KUBERNETES_PROVIDER_DIR/pulumi-resource-kubernetes" ./cmd/pulumi-resource-kubernetes
  stamp "$KUBERNETES_PROVIDER_DIR"
}

build_kube() {
  built "$KUBE_DIR" kube-apiserver kube-controller-manager kube-scheduler kubectl && return
  log "kubernetes v$KUBERNETES_VERSION"
  local k8s="k8s.io/kubernetes@v$KUBERNETES_VERSION" gomod staging="0.${KUBERNETES_VERSION#1.}"
  gomod=$(go mod download -json "$k8s" | python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')
  wrapper "kube-$KUBERNETES_VERSION" "$(go mod edit -json "$gomod" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Go"])')"
  grep -m1 '^godebug' "$gomod" >> go.mod || true
  # k8s.io/kubernetes requires its staging modules at v0.0.0 and replaces them with local paths;
  # a consumer replaces each with the published staging version.
  go mod edit -json "$gomod" | python3 -c 'import json,sys
for r in json.load(sys.stdin).get("Replace") or []:
    if r["New"]["Path"].startswith("./staging/"): print(r["Old"]["Path"])' |
    while read -r p; do go mod edit -replace="$p=$p@v$staging"; done
  local c
  for c in kube-apiserver kube-controller-manager kube-scheduler kubectl; do
    go get -tool "k8s.io/kubernetes/cmd/$c@v$KUBERNETES_VERSION"
  done
  go mod tidy
  # Without the version ldflags the binaries report v0.0.0 and the provider refuses the cluster.
  local minor ldflags="-s -w" p
  minor=$(echo "$KUBERNETES_VERSION" | cut -d. -f2)
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags="$ldflags -X $p.gitVersion=v$KUBERNETES_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor"
    ldflags="$ldflags -X $p.gitTreeState=clean -X $p.buildDate=1970-01-01T00:00:00Z"
  done
  mkdir -p "$KUBE_DIR"
  for c in kube-apiserver kube-controller-manager kube-scheduler kubectl; do
    go build -trimpath -ldflags "$ldflags" -o "$KUBE_DIR/$c" "k8s.io/kubernetes/cmd/$c"
  done
  stamp "$KUBE_DIR"
}

build_etcd() {
  built "$ETCD_DIR" etcd && return
  log "etcd v$ETCD_VERSION"
  wrapper "etcd-$ETCD_VERSION" 1.25.0
  go get -tool "go.etcd.io/etcd/server/v3@v$ETCD_VERSION"
  go mod tidy
  mkdir -p "$ETCD_DIR"
  go build -trimpath -ldflags "-s -w" -o "$ETCD_DIR/etcd" go.etcd.io/etcd/server/v3
  stamp "$ETCD_DIR"
}

build_kwok() {
  built "$KWOK_DIR" kwok && return
  log "kwok v$KWOK_VERSION"
  mkdir -p "$KWOK_DIR"
  (cd "$E2E_CACHE" && GOBIN="$KWOK_DIR" go install -trimpath -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/kwok@v$KWOK_VERSION")
  stamp "$KWOK_DIR"
}

# Smallest first, so a proxy refusal shows early.
build_etcd
build_kwok
build_kube
build_pulumi
build_kubernetes_provider
check
log "built:"
"$PULUMI_DIR/pulumi" version
"$KUBE_DIR/kube-apiserver" --version
"$ETCD_DIR/etcd" --version | head -1
"$KWOK_DIR/kwok" --version 2>/dev/null | head -1 || true
