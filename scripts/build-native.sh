#!/usr/bin/env bash
# Builds the sidecar's native pieces into dist/native/: native/original-dst.c (getsockopt
# SO_ORIGINAL_DST) and native/tcp-keepalive.c (the keepalive interval and probe count, which Node
# does not set). Node-API: one build serves every Node version from 20 on. Plain cc with the
# node-api-headers package, so no node-gyp and no header download are needed. Without a C
# compiler the build goes on: the sidecar then works without them (captured raw TCP and
# passthrough of non-HTTP traffic are refused, a DestinationRule's keepalive gets only its idle
# time, and it says so).
set -euo pipefail
cd "$(dirname "$0")/.."
cc=${CC:-cc}
for name in original-dst tcp-keepalive; do
  out=dist/native/$name.node
  src=native/$name.c
  [ -f "$out" ] && [ "$out" -nt "$src" ] && continue
  if ! command -v "$cc" >/dev/null 2>&1; then
    echo "build-native: no C compiler ($cc); $out not built (install gcc): the sidecar will refuse captured raw TCP and set only the keepalive idle time" >&2
    exit 0
  fi
  if ! include=$(node -p "require('node-api-headers').include_dir" 2>/dev/null); then
    echo "build-native: the node-api-headers package is not installed (npm install); $out not built" >&2
    exit 0
  fi
  mkdir -p dist/native
  "$cc" -O2 -Wall -Wextra -Werror -fPIC -shared -I"$include" "$src" -o "$out.tmp"
  mv "$out.tmp" "$out"
done
