set -eu
REDISCLI_AUTH="$(cat @{secrets}/password)"
export REDISCLI_AUTH
stamp="$(date -u +%Y%m%dT%H%M%SZ)"
rm -rf @{backups}/*.partial
target="@{backups}/$stamp.partial"
mkdir -p "$target"
@{copy}mv "$target" "@{backups}/$stamp"
echo "wrote @{backups}/$stamp"
# Keep the newest @{retention}.
ls -1d @{backups}/*Z | sort -r | tail -n +@{first_dropped} | xargs -r rm -rf --
ls -l @{backups}
