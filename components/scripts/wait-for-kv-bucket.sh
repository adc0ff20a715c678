# Holds a service that registers in the NATS KV bucket until the bucket exists (seed 000: the
# KV store must be initialized before services can register; the create-kv-bucket Job makes it).
# `nats` reads NATS_URL, NATS_USER and NATS_PASSWORD from its environment: the credentials come
# from the mounted Secret's files (NATS_USER_FILE, NATS_PASSWORD_FILE) where the bus has them.
set -u
if [ -n "${NATS_PASSWORD_FILE:-}" ]; then
  NATS_USER=$(cat "$NATS_USER_FILE")
  NATS_PASSWORD=$(cat "$NATS_PASSWORD_FILE")
  export NATS_USER NATS_PASSWORD
fi
until out=$(nats kv info "$NATS_KV_BUCKET" 2>&1); do
  echo "waiting for KV bucket $NATS_KV_BUCKET on $NATS_URL: $(printf '%s\n' "$out" | tail -n 1)"
  sleep 3
done
echo "KV bucket $NATS_KV_BUCKET is ready"
