#!/usr/bin/env bash
# Installs what the test suite needs on a fresh Debian/Ubuntu machine: Consul (real agent for
# the discovery and KV tests), openssl (chain verification), iptables and iproute2 (capture rules
# in network namespaces), a C compiler (the sidecar's one native piece), Docker's engine and compose
# plus debootstrap (the end-to-end tests build the images locally; the tests start dockerd when
# none runs). Idempotent; needs root or sudo.
set -euo pipefail

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

need_apt_update=1
apt_update() {
  if [ "$need_apt_update" = 1 ]; then $SUDO apt-get update -qq; need_apt_update=0; fi
}

# openssl verifies certificate chains; iptables and iproute2 (ip netns) run the capture tests in
# network namespaces the tests create.
missing=""
command -v openssl >/dev/null 2>&1 || missing="$missing openssl"
command -v iptables-restore >/dev/null 2>&1 || missing="$missing iptables"
command -v ip >/dev/null 2>&1 || missing="$missing iproute2"
command -v nsenter >/dev/null 2>&1 || missing="$missing util-linux"
command -v dockerd >/dev/null 2>&1 || missing="$missing docker.io"
command -v docker-compose >/dev/null 2>&1 || docker compose version >/dev/null 2>&1 || missing="$missing docker-compose"
command -v debootstrap >/dev/null 2>&1 || missing="$missing debootstrap"
command -v systemd-analyze >/dev/null 2>&1 || missing="$missing systemd"
# A C compiler builds the sidecar's SO_ORIGINAL_DST reader (native/original-dst.c).
command -v cc >/dev/null 2>&1 || missing="$missing gcc libc6-dev"
if [ -n "$missing" ]; then
  apt_update
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing
fi
# A real Prometheus scrapes the controller and a sidecar in the observability tests (Istio's
# dashboard queries are evaluated against it). Without recommends: no node exporter, no daemon.
# A real headless Chromium loads the controller's web UI in its test (puppeteer-core drives it).
if ! command -v chromium >/dev/null 2>&1; then
  apt_update
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium
fi
if ! command -v prometheus >/dev/null 2>&1; then
  apt_update
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus
fi

if ! command -v consul >/dev/null 2>&1; then
  # Consul is only packaged in Debian's bullseye suite. Add that suite for this one package,
  # reusing the mirror URI the machine already uses, and pin everything else from it low so
  # that nothing else on the machine is downgraded.
  sources=/etc/apt/sources.list.d/debian.sources
  uri=""
  if [ -f "$sources" ]; then
    uri=$(awk '/^URIs:/ {print $2; exit}' "$sources")
  fi
  if [ -z "$uri" ] && [ -f /etc/apt/sources.list ]; then
    uri=$(awk '/^deb / && $0 !~ /security/ {print $2; exit}' /etc/apt/sources.list)
  fi
  if [ -z "$uri" ]; then
    echo "install-test-deps: cannot find the Debian mirror URI in $sources or /etc/apt/sources.list" >&2
    exit 1
  fi
  $SUDO tee /etc/apt/sources.list.d/mesh-bullseye.sources >/dev/null <<SRC
Types: deb
URIs: $uri
Suites: bullseye
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  $SUDO tee /etc/apt/preferences.d/mesh-bullseye >/dev/null <<'PIN'
Package: *
Pin: release n=bullseye
Pin-Priority: 100

Package: consul
Pin: release n=bullseye
Pin-Priority: 500
PIN
  need_apt_update=1
  apt_update
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -t bullseye consul
fi

# sed reads all of it: `head -1` could close the pipe early, and pipefail would fail the run (SIGPIPE, 141).
consul version | sed -n 1p
