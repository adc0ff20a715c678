set -eu
REDISCLI_AUTH="$(cat @{secrets}/password)"
export REDISCLI_AUTH
info() {
  redis-cli -h "$1" cluster info 2>/dev/null | tr -d '\r' \
    | awk -F: -v key="$2" '$1 == key {print $2}'
}
addresses=""
formed=""
i=0
while [ "$i" -lt @{nodes} ]; do
  host="@{service}-$i.@{service}-headless"
  until [ "$(redis-cli -h "$host" ping 2>/dev/null)" = "PONG" ]; do
    echo "waiting for $host"
    sleep 2
  done
  addresses="$addresses $(getent hosts "$host" | awk '{print $1; exit}'):@{port}"
  known="$(info "$host" cluster_known_nodes)"
  if [ "${known:-0}" -gt 1 ]; then formed="$host"; fi
  i=$((i + 1))
done
if [ -n "$formed" ]; then
  echo "the cluster is already formed ($formed knows its peers): nothing to create"
else
  echo "forming the cluster from$addresses"
  redis-cli --cluster create $addresses --cluster-replicas @{replicas_per_master} \
    --cluster-yes
  formed="@{service}-0.@{service}-headless"
fi
until [ "$(info "$formed" cluster_state)" = "ok" ]; do
  echo "waiting for cluster_state:ok"
  sleep 2
done
echo "cluster_state:ok"
