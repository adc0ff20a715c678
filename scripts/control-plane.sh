#!/usr/bin/env bash
# A local Kubernetes control plane whose nodes are simulated by KWOK, all on 127.0.0.1, from the
# binaries scripts/e2e-tools.sh built: etcd, kube-apiserver (default admission plugins, so
# PodSecurity, LimitRanger, ResourceQuota and ServiceAccount all apply), kube-controller-manager,
# kube-scheduler and the KWOK controller.
#
#   scripts/control-plane.sh up STACK     start it with that stack's node shape (dev, staging, prod)
#   scripts/control-plane.sh down STACK   stop what `up` started, and delete its state
#   scripts/control-plane.sh env STACK    print `export KUBECONFIG=...` (and the context)
#
# dev: one 4 CPU / 16 GiB node like the kind node; prod and staging (production sizing): eight
# 16 CPU / 64 GiB workers over three zones, six labelled disktype=ssd
# (scripts/e2e/cluster/nodes-<shape>.tsv). Each gets a default
# StorageClass with a pool of volumes, the CRDs from ../shared/crds and scripts/addon-crds.sh, and a
# kubeconfig whose context is the stack's kubeContext. State lives in $E2E_STATE (default /tmp/aegis-e2e/<shape>).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cluster_files="$root/scripts/e2e/cluster"
action=${1:-}
shape=${2:-}
case "$action:$shape" in
  up:dev | up:staging | up:prod | down:dev | down:staging | down:prod | env:dev | env:staging | env:prod) ;;
  *) echo "usage: $0 up|down|env dev|staging|prod" >&2; exit 2 ;;
esac

eval "$(bash "$root/scripts/e2e-tools.sh" --env)"
eval "$(python3 "$root/stacks/versions.py")"
state="${E2E_STATE:-/tmp/aegis-e2e}/$shape"
kubeconfig="$state/kubeconfig"
# Each shape has its own ports, so dev and prod can run side by side.
case "$shape" in dev) offset=0 ;; prod) offset=100 ;; staging) offset=200 ;; esac
nodes="$cluster_files/nodes-${shape/staging/prod}.tsv"  # staging runs on production's shape
etcd_port=$((2379 + offset)) etcd_peer_port=$((2380 + offset)) apiserver_port=$((6443 + offset))
kcm_port=$((10257 + offset)) scheduler_port=$((10259 + offset)) kwok_port=$((10247 + offset))
context=$(sed -n 's/^ *trading-platform:kubeContext: *//p' "$root/Pulumi.$shape.yaml")
kubectl() { "$KUBE_DIR/kubectl" --kubeconfig "$kubeconfig" "$@"; }
log() { printf '[control-plane %s] %s\n' "$shape" "$*"; }

if [ "$action" = env ]; then
  echo "export KUBECONFIG='$kubeconfig'"
  echo "# context: $context"
  exit 0
fi

if [ "$action" = down ]; then
  for pidfile in "$state"/*.pid; do
    [ -f "$pidfile" ] || continue
    pid=$(cat "$pidfile")
    # Only a process this script started: its pid file, and still the same command line.
    if kill -0 "$pid" 2>/dev/null && grep -q "$state" "/proc/$pid/cmdline" 2>/dev/null; then
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$pidfile"
  done
  rm -rf "$state"
  log "down"
  exit 0
fi

for tool in "$ETCD_DIR/etcd" "$KUBE_DIR/kube-apiserver" "$KUBE_DIR/kube-controller-manager" \
  "$KUBE_DIR/kube-scheduler" "$KUBE_DIR/kubectl" "$KWOK_DIR/kwok"; do
  [ -x "$tool" ] || { echo "control-plane: $tool missing; run scripts/e2e-tools.sh first" >&2; exit 1; }
done
if [ -d "$state" ]; then
  echo "control-plane: $state exists; run '$0 down $shape' first" >&2
  exit 1
fi
mkdir -p "$state/pki"

# PKI: a CA, the API server's serving certificate, an admin client, the service-account keys.
pki="$state/pki"
(
  cd "$pki"
  openssl req -x509 -newkey rsa:2048 -nodes -days 7 -subj "/CN=aegis-e2e-ca" -keyout ca.key -out ca.crt
  openssl req -newkey rsa:2048 -nodes -subj "/CN=kube-apiserver" -keyout apiserver.key -out apiserver.csr
  printf 'subjectAltName=IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local\nextendedKeyUsage=serverAuth\n' > server.ext
  openssl x509 -req -in apiserver.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 7 -extfile server.ext -out apiserver.crt
  openssl req -newkey rsa:2048 -nodes -subj "/O=system:masters/CN=aegis-e2e-admin" -keyout admin.key -out admin.csr
  printf 'extendedKeyUsage=clientAuth\n' > client.ext
  openssl x509 -req -in admin.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 7 -extfile client.ext -out admin.crt
  openssl genrsa -out sa.key 2048
  openssl rsa -in sa.key -pubout -out sa.pub
) > "$state/pki.log" 2>&1

cat > "$kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: $context
  cluster:
    server: https://127.0.0.1:$apiserver_port
    certificate-authority: $pki/ca.crt
users:
- name: $context-admin
  user:
    client-certificate: $pki/admin.crt
    client-key: $pki/admin.key
contexts:
- name: $context
  context: {cluster: $context, user: $context-admin}
current-context: $context
EOF

start() {  # start NAME COMMAND...: in the background, logged, with a pid file
  local name=$1; shift
  "$@" > "$state/$name.log" 2>&1 &
  echo $! > "$state/$name.pid"
}

start etcd "$ETCD_DIR/etcd" --name e2e --data-dir "$state/etcd" --unsafe-no-fsync \
  --listen-client-urls "http://127.0.0.1:$etcd_port" --advertise-client-urls "http://127.0.0.1:$etcd_port" \
  --listen-peer-urls "http://127.0.0.1:$etcd_peer_port" --initial-advertise-peer-urls "http://127.0.0.1:$etcd_peer_port" \
  --initial-cluster "e2e=http://127.0.0.1:$etcd_peer_port" --listen-metrics-urls ""

start kube-apiserver "$KUBE_DIR/kube-apiserver" \
  --etcd-servers="http://127.0.0.1:$etcd_port" \
  --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="$apiserver_port" \
  --endpoint-reconciler-type=none \
  --tls-cert-file="$pki/apiserver.crt" --tls-private-key-file="$pki/apiserver.key" --client-ca-file="$pki/ca.crt" \
  --service-account-issuer=https://kubernetes.default.svc.cluster.local \
  --service-account-key-file="$pki/sa.pub" --service-account-signing-key-file="$pki/sa.key" \
  --service-cluster-ip-range=10.96.0.0/16 --authorization-mode=Node,RBAC

for _ in $(seq 120); do
  kubectl get --raw /readyz >/dev/null 2>&1 && break
  sleep 1
done
kubectl get --raw /readyz >/dev/null || { log "API server not ready; see $state/kube-apiserver.log"; exit 1; }

start kube-controller-manager "$KUBE_DIR/kube-controller-manager" --kubeconfig="$kubeconfig" \
  --authentication-kubeconfig="$kubeconfig" --authorization-kubeconfig="$kubeconfig" \
  --bind-address=127.0.0.1 --secure-port="$kcm_port" --leader-elect=false \
  --root-ca-file="$pki/ca.crt" --service-account-private-key-file="$pki/sa.key" \
  --cluster-signing-cert-file="$pki/ca.crt" --cluster-signing-key-file="$pki/ca.key" \
  --use-service-account-credentials=false --controllers='*,-nodeipam'
start kube-scheduler "$KUBE_DIR/kube-scheduler" --kubeconfig="$kubeconfig" \
  --authentication-kubeconfig="$kubeconfig" --authorization-kubeconfig="$kubeconfig" \
  --bind-address=127.0.0.1 --secure-port="$scheduler_port" --leader-elect=false

# KWOK's default stages: nodes become Ready, pods Running and Ready, Job pods complete,
# deleted pods go away.
stages="$KWOK_SOURCE/kustomize/stage"
for f in node/fast/node-initialize.yaml node/heartbeat-with-lease/node-heartbeat-with-lease.yaml \
  pod/fast/pod-ready.yaml pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml; do
  cat "$stages/$f"
  echo '---'
done > "$state/kwok-stages.yaml"
start kwok "$KWOK_DIR/kwok" --kubeconfig="$kubeconfig" --config="$state/kwok-stages.yaml" \
  --manage-all-nodes=true --cidr=10.244.0.0/16 --node-ip=127.0.0.1 --node-lease-duration-seconds=40 \
  --server-address="127.0.0.1:$kwok_port"

render() {  # render TEMPLATE VAR=VALUE...: the template with ${VAR} replaced
  local template=$1; shift
  python3 - "$template" "$@" <<'EOF'
import string, sys
values = dict(arg.split("=", 1) for arg in sys.argv[2:])
print(string.Template(open(sys.argv[1]).read()).substitute(values))
EOF
}

grep -v '^#' "$nodes" | while IFS=$'\t' read -r name zone cpu memory disktype; do
  render "$cluster_files/node.yaml" NAME="$name" ZONE="$zone" CPU="$cpu" MEMORY="$memory" \
    DISKTYPE="$disktype" KUBERNETES_VERSION="$KUBERNETES_VERSION"
  echo '---'
done | kubectl apply -f - >/dev/null
kubectl apply -f "$cluster_files/storage.yaml" >/dev/null
for i in $(seq -w 1 60); do
  render "$cluster_files/pv.yaml" INDEX="$i"
  echo '---'
done | kubectl apply -f - >/dev/null
crds="$root/../shared/crds"
if [ -d "$crds" ]; then
  # Plus the CRDs of add-ons the platform uses without installing them (cert-manager).
  addon_crds=$(bash "$root/scripts/addon-crds.sh")
  find "$crds" "$addon_crds" -name '*.yaml' -print0 | sort -z \
    | xargs -0 -n1 "$KUBE_DIR/kubectl" --kubeconfig "$kubeconfig" apply --server-side -f >/dev/null
  kubectl wait --for=condition=Established crd --all --timeout=60s >/dev/null
else
  log "no ../shared/crds: custom resources will be refused"
fi
kubectl wait --for=condition=Ready node --all --timeout=120s >/dev/null
# The namespace controller and the service-account controller must be running before a
# workload's ServiceAccount can be used.
for _ in $(seq 60); do
  kubectl get serviceaccount default -n default >/dev/null 2>&1 && break
  sleep 1
done
log "up: $(kubectl get nodes --no-headers | wc -l) nodes, context $context, KUBECONFIG=$kubeconfig"
