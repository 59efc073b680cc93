#!/usr/bin/env node
// mesh-agent: the host agent. Built in the host-agent issue; this entry point exists so that
// the package's executables are all declared from the start.
process.stderr.write('mesh-agent: not implemented yet (host agent issue); see README.md\n');
process.exit(2);
