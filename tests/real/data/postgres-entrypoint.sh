#!/usr/bin/env bash
# The steps of the postgres image's docker-entrypoint.sh that the platform relies on, for a
# first start on an empty PGDATA: initdb as POSTGRES_USER with the password from
# POSTGRES_PASSWORD_FILE and POSTGRES_INITDB_ARGS, a socket-only temporary server, CREATE
# DATABASE POSTGRES_DB (default POSTGRES_USER) unless it exists, each
# /docker-entrypoint-initdb.d/*.sh sourced with docker_process_sql, then the server with the
# container's arguments. INITDB_DIR stands for the init directory and SOCKET_DIR for
# /var/run/postgresql.
set -Eeuo pipefail

POSTGRES_PASSWORD="$(< "$POSTGRES_PASSWORD_FILE")"
# The image's default: the superuser's name.
export POSTGRES_DB="${POSTGRES_DB:-$POSTGRES_USER}"
export PGHOST="$SOCKET_DIR" PGPORT="$PORT"

docker_process_sql() {
  local query_runner=(psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --no-password --no-psqlrc)
  if [ -n "${POSTGRES_DB:-}" ]; then
    query_runner+=(--dbname "$POSTGRES_DB")
  fi
  PGHOST='' PGHOSTADDR='' "${query_runner[@]}" --host "$SOCKET_DIR" "$@"
}

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  # shellcheck disable=SC2086 # POSTGRES_INITDB_ARGS is a list of flags, as in the image
  initdb --username="$POSTGRES_USER" --pwfile=<(printf '%s\n' "$POSTGRES_PASSWORD") \
    $POSTGRES_INITDB_ARGS -D "$PGDATA"
  pg_ctl -D "$PGDATA" -w start \
    -o "-c listen_addresses='' -c unix_socket_directories=$SOCKET_DIR -c port=$PORT"
  db="$POSTGRES_DB"
  exists="$(POSTGRES_DB='' docker_process_sql --dbname postgres --set db="$db" --tuples-only \
    <<'EOSQL'
SELECT 1 FROM pg_database WHERE datname = :'db' ;
EOSQL
)"
  if [ -z "$exists" ]; then
    POSTGRES_DB='' docker_process_sql --dbname postgres --set db="$db" <<'EOSQL'
CREATE DATABASE :"db" ;
EOSQL
  fi
  for f in "$INITDB_DIR"/*.sh; do
    echo "running $f"
    # shellcheck disable=SC1090
    . "$f"
  done
  pg_ctl -D "$PGDATA" -m fast -w stop
fi
unset POSTGRES_PASSWORD
exec "$@"
