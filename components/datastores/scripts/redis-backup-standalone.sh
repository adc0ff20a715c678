redis-cli -h @{service} --rdb "$target/@{service}.rdb"
