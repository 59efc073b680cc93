#!/usr/bin/env bash
# Installs the mesh on a VM as systemd services. Run as root from a built checkout
# (npm ci && npm run build):
#   systemd/install.sh controller   the controller (mesh-controller.service)
#   systemd/install.sh agent        the host agent and the sidecar template (mesh-agent.service,
#                                   mesh-proxy@.service); declare services in /etc/mesh/services.d
#   systemd/install.sh prometheus   on the controller's VM, after `controller`: points Debian's
#                                   Prometheus at the controller and, through its catalog, at
#                                   every sidecar (systemd/prometheus.yml)
# Both may go on the same VM.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -d dist ] || { echo "install.sh: build first: npm ci && npm run build" >&2; exit 1; }
what=${1:-}
case "$what" in controller | agent | prometheus) ;; *) echo "usage: systemd/install.sh controller|agent|prometheus" >&2; exit 2 ;; esac

if [ "$what" = prometheus ]; then
  command -v prometheus >/dev/null 2>&1 || { echo "install.sh prometheus: install Debian's Prometheus first: apt-get install prometheus" >&2; exit 1; }
  meshctl --data-dir /var/lib/mesh/controller status >/dev/null 2>&1 || { echo "install.sh prometheus: run it on the controller's VM, after install.sh controller" >&2; exit 1; }
  [ -f /etc/prometheus/prometheus.yml.orig ] || { [ -f /etc/prometheus/prometheus.yml ] && cp /etc/prometheus/prometheus.yml /etc/prometheus/prometheus.yml.orig; } || true
  install -m 0644 systemd/prometheus.yml /etc/prometheus/prometheus.yml
  install -m 0644 /var/lib/mesh/controller/ca.pem /etc/prometheus/mesh-ca.pem
  # A host agent token of its own (it may read the catalog); revoke with: meshctl token revoke-agent --host prometheus
  [ -s /etc/prometheus/mesh-token ] || {
    meshctl --data-dir /var/lib/mesh/controller token agent --host prometheus > /etc/prometheus/mesh-token.new
    install -m 0600 -o prometheus -g prometheus /etc/prometheus/mesh-token.new /etc/prometheus/mesh-token
    rm -f /etc/prometheus/mesh-token.new
  }
  promtool check config /etc/prometheus/prometheus.yml >/dev/null
  systemctl enable prometheus.service >/dev/null 2>&1
  systemctl restart prometheus.service
  echo "Prometheus scrapes the controller and every sidecar in its catalog (http://127.0.0.1:9090)"
  exit 0
fi
install -d -m 0755 /opt/mesh /etc/mesh
cp -r dist node_modules package.json README.md docs /opt/mesh/
# The commands, on PATH as after `npm install -g`: each a small launcher into /opt/mesh.
for bin in mesh-controller:controller mesh-agent:agent mesh-proxy:proxy meshctl:cli; do
  name=${bin%%:*}
  printf '#!/bin/sh\nexec node /opt/mesh/dist/%s/main.js "$@"\n' "${bin#*:}" > "/usr/local/bin/$name"
  chmod 0755 "/usr/local/bin/$name"
done

if [ "$what" = controller ]; then
  id mesh >/dev/null 2>&1 || useradd --system --home /var/lib/mesh --shell /usr/sbin/nologin mesh
  [ -f /etc/mesh/controller.env ] || install -m 0644 /dev/null /etc/mesh/controller.env
  install -m 0644 systemd/mesh-controller.service /etc/systemd/system/mesh-controller.service
  systemctl daemon-reload
  systemctl enable --now mesh-controller.service
  # Wait until it answers (it creates its CA and admin token at first start), so that the next
  # command, meshctl or an agent's first call, finds it.
  for _ in $(seq 1 60); do meshctl --data-dir /var/lib/mesh/controller status >/dev/null 2>&1 && break; sleep 0.5; done
  meshctl --data-dir /var/lib/mesh/controller status >/dev/null 2>&1 || { echo "mesh-controller did not answer within 30 s; see: journalctl -u mesh-controller" >&2; exit 1; }
  echo "mesh-controller installed and answering; meshctl on this VM finds it (try: meshctl status)"
else
  # The sidecars' user: capture rules exempt its UID, so it must be the same on every VM.
  getent group mesh-proxy >/dev/null || groupadd --system --gid 1337 mesh-proxy
  id mesh-proxy >/dev/null 2>&1 || useradd --system --uid 1337 --gid 1337 --no-create-home --shell /usr/sbin/nologin mesh-proxy
  install -d -m 0755 /etc/mesh/services.d
  [ -f /etc/mesh/agent.env ] || install -m 0600 /dev/null /etc/mesh/agent.env
  install -m 0644 systemd/mesh-agent.service /etc/systemd/system/mesh-agent.service
  install -m 0644 systemd/mesh-proxy@.service /etc/systemd/system/mesh-proxy@.service
  systemctl daemon-reload
  grep -q '^MESH_AGENT_ADDRESS=' /etc/mesh/agent.env || { echo "set MESH_AGENT_ADDRESS, MESH_CONTROLLER, MESH_CA_FILE and MESH_TOKEN in /etc/mesh/agent.env, then: systemctl enable --now mesh-agent" >&2; exit 0; }
  systemctl enable --now mesh-agent.service
  echo "mesh-agent installed; declare services in /etc/mesh/services.d (see README.md)"
fi
