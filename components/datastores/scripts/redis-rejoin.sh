# When every node restarted, every pod IP changed and nodes.conf points at none of them: meet
# the peers at their current addresses (a node that knows none waits for the bootstrap Job).
if [ -s /data/nodes.conf ] && [ "$(grep -cv '^vars' /data/nodes.conf)" -gt 1 ]; then
  (
    REDISCLI_AUTH="$(cat @{secrets}/password)"
    export REDISCLI_AUTH
    self="$(hostname)"
    for _ in 1 2 3 4 5 6 7 8 9 10 11 12; do
      sleep 10
      i=0
      while [ "$i" -lt @{nodes} ]; do
        peer="@{service}-$i"
        i=$((i + 1))
        [ "$peer" = "$self" ] && continue
        ip="$(getent hosts "$peer.@{service}-headless" | awk '{print $1; exit}')" || true
        [ -n "$ip" ] && redis-cli -h 127.0.0.1 cluster meet "$ip" @{port} \
          @{bus_port} >/dev/null 2>&1 || true
      done
    done
  ) &
fi
