// A sidecar gets its Node flags in three ways: from the agent's runtimes (SIDECAR_NODE_FLAGS), from
// proxy/main.ts's first line (mesh-proxy run as a command, as in the container image), and from
// the systemd unit. None can import the others, so this holds the three alike.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { SIDECAR_NODE_FLAGS } from '../../common/sidecar-process.js';

const root = new URL('../../../', import.meta.url);
/** The words between `node` and `before` (or the end of the line). */
const flagsIn = (line: string, before?: string) =>
  line
    .slice(line.indexOf(' node ') + ' node '.length, before === undefined ? undefined : line.indexOf(before))
    .trim()
    .split(/\s+/);

describe('the sidecar runs with the same Node flags however it is started', () => {
  it("mesh-proxy's first line", () => {
    const first = readFileSync(new URL('proxy/main.ts', root), 'utf8').split('\n')[0];
    assert.deepEqual(flagsIn(first), [...SIDECAR_NODE_FLAGS]);
  });

  it('the systemd unit', () => {
    const exec = readFileSync(new URL('systemd/mesh-proxy@.service', root), 'utf8')
      .split('\n')
      .find((l) => l.startsWith('ExecStart='));
    assert.ok(exec, 'the unit has an ExecStart');
    assert.deepEqual(flagsIn(exec, '/opt/mesh/dist/proxy/main.js'), [...SIDECAR_NODE_FLAGS]);
  });
});
