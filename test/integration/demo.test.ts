// The README's first command: the demo must run on the embedded default and show what it says.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { describe, it } from 'node:test';

const demo = new URL('../../cli/demo.js', import.meta.url).pathname;

describe('quick-start demo', () => {
  it('runs the Bookinfo mesh on the embedded default and shows the split, identities and metrics', async () => {
    const { code, out } = await new Promise<{ code: number | null; out: string }>((resolve) => {
      const child = spawn(process.execPath, [demo], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (out += d.toString()));
      child.on('close', (c) => resolve({ code: c, out }));
    });
    assert.equal(code, 0, out);
    const seen = /reviews versions seen: v1 (\d+), v3 (\d+)/.exec(out);
    assert.ok(seen, out);
    assert.ok(Number(seen[1]) >= 160 && Number(seen[2]) >= 2, `split ${seen[0]}`);
    assert.match(out, /with end-user: jason -> reviews v2, which called ratings v1/);
    assert.match(out, /reviews saw its caller as: By=spiffe:\/\/cluster\.local\/ns\/default\/sa\/reviews;URI=spiffe:\/\/cluster\.local\/ns\/default\/sa\/productpage/);
    assert.match(
      out,
      /istio_requests_total\{reporter="source",source_workload="productpage-v1",destination_workload="reviews-v\d",destination_service="reviews\.default\.svc\.cluster\.local",[^}]*connection_security_policy="unknown",\.\.\.\} \d+/,
    );
    assert.match(out, /default\/productpage -> default\/reviews: \d+ requests/);
    assert.match(out, /weights must sum to 100, they sum to 110/);
  });
});
