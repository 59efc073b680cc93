// A sidecar whose start fails (here: its admin port is taken) releases what it had opened, so
// that a caller can start it again, or another, on the same ports.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { startController, type TestController } from '../helpers/controller.js';
import { freePort } from '../helpers/ports.js';
import { startSidecar } from '../helpers/sidecar.js';

const listen = (port: number) =>
  new Promise<Server>((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(port, '127.0.0.1', () => resolve(s));
  });

describe('a failed sidecar start', () => {
  let c: TestController;
  before(async () => {
    c = await startController();
  });
  after(() => c.close());

  it('releases the listeners it had opened, and says why it failed', async () => {
    const [inbound, admin] = [await freePort(), await freePort()];
    const taken = await listen(admin);
    try {
      await assert.rejects(startSidecar(c, 'api', 1, { inboundPort: inbound, adminPort: admin }), /EADDRINUSE/);
      // The inbound port it had bound before the admin port failed is free again.
      const again = await listen(inbound);
      again.close();
    } finally {
      taken.close();
    }
    const ok = await startSidecar(c, 'api', 1, { inboundPort: inbound, adminPort: admin });
    assert.equal(ok.ports.inbound, inbound, 'a second start on the same ports works');
    await ok.close();
  });
});
