// The controller's Consul liveness probe against a real agent: a Consul that hangs is down; a
// controller whose own event loop stalled past the probe's timeout while Consul answered is not
// (each false "down" restarted every watch, at 1,000 services a storm of 1,000 requests, and a
// failed apply when it reset a KV read).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import Consul from 'consul';
import { ConsulLiveness } from '../../controller/consul/liveness.js';
import { startConsul, type ConsulAgent } from '../helpers/consul.js';

const TIMEOUT_MS = 500;

describe('Consul liveness probe', () => {
  let consul: ConsulAgent;

  const probeOnce = (liveness: ConsulLiveness) => (liveness as unknown as { probe(): Promise<void> }).probe();

  before(async () => {
    consul = await startConsul();
  });

  after(async () => {
    consul?.resume();
    await consul?.stop();
  });

  it('marks a Consul that does not answer within the timeout down', async () => {
    // Probes run only when asked here (the interval is an hour).
    const liveness = new ConsulLiveness(new Consul({ host: '127.0.0.1', port: consul.httpPort }), 3_600_000, TIMEOUT_MS);
    await consul.pause();
    try {
      await probeOnce(liveness);
      assert.equal(liveness.healthy(), false);
    } finally {
      consul.resume();
    }
    await probeOnce(liveness);
    assert.equal(liveness.healthy(), true, 'up again once it answers');
    liveness.close();
  });

  it('keeps Consul up when the answer came while the controller itself was stalled past the timeout', async () => {
    const liveness = new ConsulLiveness(new Consul({ host: '127.0.0.1', port: consul.httpPort }), 3_600_000, TIMEOUT_MS);
    const downs: string[] = [];
    liveness.on('down', () => downs.push(new Date().toISOString()));
    // The request waits in the agent's socket while the agent is frozen; the agent is let go
    // and answers while this process is busy for five timeouts (time enough on a busy machine), as a controller compiling
    // thousands of snapshots is (in an I/O turn's check phase, where a controller's work runs:
    // the loop then fires due timers before it reads its sockets again).
    await consul.pause();
    const probing = probeOnce(liveness);
    await new Promise((r) => setTimeout(r, 100));
    await new Promise<void>((r) =>
      setImmediate(() => {
        consul.resume();
        const busyUntil = Date.now() + 5 * TIMEOUT_MS;
        while (Date.now() < busyUntil) {
          // the controller's own work
        }
        r();
      }),
    );
    await probing;
    assert.deepEqual(downs, [], 'Consul was not marked down');
    assert.equal(liveness.healthy(), true);
    liveness.close();
  });
});
