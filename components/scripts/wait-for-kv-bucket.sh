# Holds a service that registers in the NATS KV bucket until the bucket exists (seed 000: the
# KV store must be initialized before services can register; the create-kv-bucket Job makes it).
# `nats` reads NATS_URL, NATS_USER and NATS_PASSWORD from the environment itself.
set -u
until out=$(nats kv info "$NATS_KV_BUCKET" 2>&1); do
  echo "waiting for KV bucket $NATS_KV_BUCKET on $NATS_URL: $(printf '%s\n' "$out" | tail -n 1)"
  sleep 3
done
echo "KV bucket $NATS_KV_BUCKET is ready"
