i=0
while [ "$i" -lt @{nodes} ]; do
  host="@{service}-$i.@{service}-headless"
  if [ "$(redis-cli -h "$host" role | head -n 1 | tr -d '\r')" = "master" ]; then
    redis-cli -h "$host" --rdb "$target/@{service}-$i.rdb"
  fi
  i=$((i + 1))
done
