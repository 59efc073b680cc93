#!/usr/bin/env bash
# Builds the sidecar's one native piece, native/original-dst.c (getsockopt SO_ORIGINAL_DST), into
# dist/native/original-dst.node. Node-API: one build serves every Node version from 20 on. Plain
# cc with the node-api-headers package, so no node-gyp and no header download are needed.
# Without a C compiler the build goes on: the sidecar then works without original destinations
# (captured raw TCP and passthrough of non-HTTP traffic are refused, and it says so at start).
set -euo pipefail
cd "$(dirname "$0")/.."
out=dist/native/original-dst.node
src=native/original-dst.c
[ -f "$out" ] && [ "$out" -nt "$src" ] && exit 0
cc=${CC:-cc}
if ! command -v "$cc" >/dev/null 2>&1; then
  echo "build-native: no C compiler ($cc); the sidecar will refuse captured raw TCP (install gcc to build $out)" >&2
  exit 0
fi
if ! include=$(node -p "require('node-api-headers').include_dir" 2>/dev/null); then
  echo "build-native: the node-api-headers package is not installed (npm install); $out not built" >&2
  exit 0
fi
mkdir -p dist/native
"$cc" -O2 -Wall -Wextra -Werror -fPIC -shared -I"$include" "$src" -o "$out.tmp"
mv "$out.tmp" "$out"
