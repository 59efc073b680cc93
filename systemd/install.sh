#!/usr/bin/env bash
# Installs the controller on a VM as a systemd service. Run as root from a built checkout
# (npm ci && npm run build). The agent and sidecar units come with the host-agent work.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -d dist ] || { echo "install.sh: build first: npm ci && npm run build" >&2; exit 1; }
id mesh >/dev/null 2>&1 || useradd --system --home /var/lib/mesh --shell /usr/sbin/nologin mesh
install -d -m 0755 /opt/mesh /etc/mesh
cp -r dist node_modules package.json README.md docs /opt/mesh/
[ -f /etc/mesh/controller.env ] || install -m 0644 /dev/null /etc/mesh/controller.env
install -m 0644 systemd/mesh-controller.service /etc/systemd/system/mesh-controller.service
systemctl daemon-reload
systemctl enable --now mesh-controller.service
echo "mesh-controller installed; meshctl --data-dir /var/lib/mesh/controller status"
