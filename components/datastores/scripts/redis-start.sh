#!/bin/sh
set -eu
umask 077
# In Redis' double-quoted strings a backslash and a quote are escapes: escape both.
password="$(sed 's/[\\"]/\\&/g' @{secrets}/password)"
{
  cat /etc/redis/redis.conf
  printf 'requirepass "%s"\nmasterauth "%s"\n' "$password" "$password"
} > /run/redis/redis.conf
unset password
@{rejoin}exec redis-server /run/redis/redis.conf
