# The backup CronJob: every database that accepts connections (templates excepted) as a
# `pg_dump --format=custom` file, plus the roles and settings (`pg_dumpall --globals-only`,
# without passwords: those live in the Secrets), into BACKUPS/<UTC timestamp>/; keeps the newest
# RETENTION folders. Connects as PGUSER to PGHOST:PGPORT, the password from PG_PASSWORD_FILE.
set -eu
PGPASSWORD="$(cat "$PG_PASSWORD_FILE")"
export PGPASSWORD
stamp="$(date -u +%Y%m%dT%H%M%SZ)"
rm -rf "$BACKUPS"/*.partial
target="$BACKUPS/$stamp.partial"
mkdir -p "$target"
pg_dumpall --globals-only --no-role-passwords --file="$target/globals.sql"
psql --no-psqlrc --no-password --dbname=postgres --tuples-only --no-align --command="
  SELECT datname FROM pg_database WHERE datallowconn AND NOT datistemplate ORDER BY 1" \
  > "$target/databases.txt"
while IFS= read -r database; do
  pg_dump --dbname="$database" --format=custom --file="$target/$database.dump"
  echo "dumped $database"
done < "$target/databases.txt"
mv "$target" "$BACKUPS/$stamp"
echo "wrote $BACKUPS/$stamp"
# Keep the newest $RETENTION.
ls -1d "$BACKUPS"/*Z | sort -r | tail -n "+$((RETENTION + 1))" | xargs -r rm -rf --
ls -l "$BACKUPS"
