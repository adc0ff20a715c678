#!/usr/bin/env bash
# Install the real programs the tests feed the generated configuration to (tests/test_real_*.py):
# Debian packages through apt-get (when root, or through sudo), and the pinned PyPI packages of
# requirements-dev.txt into .venv. Idempotent: when everything is present it only checks.
set -euo pipefail
cd "$(dirname "$0")/.."

# program -> Debian package. Versions against the images are asserted by the tests.
PROGRAMS=(
  "redis-server:redis-server"
  "redis-cli:redis-tools"
  "postgres:postgresql"
  "psql:postgresql-client"
  "nginx:nginx-light"
  "promtool:prometheus"
  "amtool:prometheus-alertmanager"
  "shellcheck:shellcheck"
  "busybox:busybox"
  "dash:dash"
  "nc:netcat-openbsd"
  "setpriv:util-linux"
)
# Not on a user's PATH on Debian.
export PATH="$PATH:/usr/sbin:/sbin:/usr/lib/postgresql/15/bin"

missing=()
for entry in "${PROGRAMS[@]}"; do
  program="${entry%%:*}"
  package="${entry#*:}"
  if ! command -v "$program" >/dev/null 2>&1; then
    missing+=("$package")
  fi
done

if [ "${#missing[@]}" -gt 0 ]; then
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-test-programs: no apt-get; the tests of ${missing[*]} will skip" >&2
  else
    sudo=()
    if [ "$(id -u)" -ne 0 ]; then
      if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        sudo=(sudo -n)
      else
        echo "install-test-programs: not root; the tests of ${missing[*]} will skip" >&2
        missing=()
      fi
    fi
    if [ "${#missing[@]}" -gt 0 ]; then
      echo "install-test-programs: apt-get install ${missing[*]}"
      export DEBIAN_FRONTEND=noninteractive
      "${sudo[@]}" apt-get update -qq
      # Packages install their programs only: no service starts (unless a policy is in place).
      own_policy=""
      if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee /usr/sbin/policy-rc.d >/dev/null
        "${sudo[@]}" chmod 755 /usr/sbin/policy-rc.d
        own_policy=yes
      fi
      "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
      if [ -n "$own_policy" ]; then "${sudo[@]}" rm -f /usr/sbin/policy-rc.d; fi
    fi
  fi
fi

bash scripts/setup-venv.sh requirements-dev.txt

# The collector tests/test_real_otel.py validates the collector configurations with, built from Go
# modules at the pinned collector version (about 10 min cold, nothing when built). A failed build
# only makes that test skip, naming the script.
# The CRDs of add-ons (cert-manager) tests/test_schemas.py validates their objects against: a
# download of seconds from the Go module proxy.
if command -v go >/dev/null 2>&1; then
  timeout 300 bash scripts/addon-crds.sh >/dev/null ||
    echo "install-test-programs: scripts/addon-crds.sh failed; cert-manager objects not validated" >&2
  timeout 1800 bash scripts/otelcol-build.sh >/dev/null 2>&1 ||
    echo "install-test-programs: scripts/otelcol-build.sh failed; tests/test_real_otel.py skips" >&2
fi
