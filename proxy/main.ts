#!/usr/bin/env node
// mesh-proxy: the sidecar. Built in the data-plane issue; it consumes the snapshot defined in
// core/snapshot/types.ts (docs/snapshot.md).
process.stderr.write('mesh-proxy: not implemented yet (data-plane issue); see README.md\n');
process.exit(2);
