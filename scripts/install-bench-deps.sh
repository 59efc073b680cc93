#!/usr/bin/env bash
# Installs what `npm run bench:compare` needs on a fresh Debian/Ubuntu machine: wrk (closed-loop
# load), nginx (the L7 mTLS reference pair), gnuplot (the plot), openssl (nginx's certificates)
# and Consul (its Connect proxy pair; through scripts/install-test-deps.sh, which adds Debian's
# bullseye suite for that one package). Idempotent; needs root or sudo.
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
missing=""
command -v wrk >/dev/null 2>&1 || missing="$missing wrk"
command -v nginx >/dev/null 2>&1 || missing="$missing nginx-light"
command -v gnuplot >/dev/null 2>&1 || missing="$missing gnuplot-nox"
command -v openssl >/dev/null 2>&1 || missing="$missing openssl"
if [ -n "$missing" ]; then
  $SUDO apt-get update -qq
  # nginx's package would start a server on port 80; the benchmark starts its own.
  created=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    echo 'exit 101' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null && $SUDO chmod +x /usr/sbin/policy-rc.d && created=1
  fi
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing
  if [ "$created" = 1 ]; then $SUDO rm -f /usr/sbin/policy-rc.d; fi
fi
command -v consul >/dev/null 2>&1 || bash scripts/install-test-deps.sh
