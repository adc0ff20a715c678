# Creates or updates each consumer's role and database, idempotently (safe to run any number
# of times). Two callers:
# - the image's entrypoint sources it once, on an empty data directory (docker_process_sql over
#   the socket, before the server listens on TCP, so no client connects before its role exists);
# - the Job `{release}-postgres-databases` runs it with `sh` after every change, over TCP as the
#   superuser (PGHOST, PGPORT, PGUSER, PGSSLMODE; the password file in PG_PASSWORD_FILE), which
#   brings servers whose data directory predates a consumer up to date.
# Each consumer's Secret is mounted at $DATABASES_DIR/<consumer>/{username,password,database}.
# The role's password is set from its Secret on every run, so the Secret is authoritative.
# EXTENSIONS (space-separated) are created in the `postgres` database (the exporter's).

if command -v docker_process_sql >/dev/null 2>&1; then
  pg_sql() { POSTGRES_DB='' docker_process_sql --dbname postgres "$@"; }
else
  set -eu
  PGPASSWORD="$(cat "$PG_PASSWORD_FILE")"
  export PGPASSWORD
  pg_sql() { psql -v ON_ERROR_STOP=1 --no-psqlrc --no-password --dbname postgres "$@"; }
fi

for consumer_dir in "$DATABASES_DIR"/*/; do
  consumer="$(basename "$consumer_dir")"
  echo "database of $consumer: $(cat "$consumer_dir/database") owned by $(cat "$consumer_dir/username")"
  pg_sql --set=role="$(cat "$consumer_dir/username")" \
    --set=password="$(cat "$consumer_dir/password")" \
    --set=db="$(cat "$consumer_dir/database")" <<'EOSQL'
SELECT format('CREATE ROLE %I LOGIN', :'role')
  WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'role') \gexec
ALTER ROLE :"role" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'password';
-- A managed server's admin is no superuser: it may only hand a database to a role it is in.
SELECT NOT rolsuper AS not_superuser FROM pg_roles WHERE rolname = current_user \gset
\if :not_superuser
GRANT :"role" TO CURRENT_USER;
\endif
SELECT format('CREATE DATABASE %I OWNER %I', :'db', :'role')
  WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'db') \gexec
ALTER DATABASE :"db" OWNER TO :"role";
-- One consumer per database: no other role may connect (the owner and superusers still can).
REVOKE ALL ON DATABASE :"db" FROM PUBLIC;
EOSQL
done

for extension in ${EXTENSIONS:-}; do
  pg_sql --set=extension="$extension" <<'EOSQL'
SELECT format('CREATE EXTENSION IF NOT EXISTS %I', :'extension') \gexec
EOSQL
done
unset PGPASSWORD
