#!/usr/bin/env bash
# One command from a fresh machine to a full test run: installs what the tests need (a real
# Consul agent, openssl), the npm dependencies, builds, and runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-test-deps.sh
if [ -f package-lock.json ]; then npm ci --no-audit --no-fund; else npm install --no-audit --no-fund; fi
npm test
