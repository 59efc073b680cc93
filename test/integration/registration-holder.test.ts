// A host agent without --consul-agent registers its instances through a controller, whose Consul
// agent then holds them: the agent asks every few seconds which controller answers for it, over
// the same link (and CA, and failover) its calls use, and hears at once when the one holding its
// registrations is gone, closed or silent (agent/registration-holder.ts).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { HttpControllerLink } from '../../agent/controller-link.js';
import { RegistrationHolderWatch } from '../../agent/registration-holder.js';
import { startController, type TestController } from '../helpers/controller.js';
import { waitFor } from '../helpers/ports.js';
import { startSilentRelay, type SilentRelay } from '../helpers/silent-relay.js';

describe("the host agent's watch on the controller holding its registrations", () => {
  let a: TestController;
  let b: TestController;
  let c: TestController;
  let relay: SilentRelay;

  before(async () => {
    [a, b, c] = [await startController(), await startController(), await startController()];
    relay = await startSilentRelay(Number(new URL(b.url).port));
  });

  after(async () => {
    await relay?.close();
    for (const x of [a, b, c]) await x?.close().catch(() => undefined);
  });

  const watchOver = (urls: string[]) => {
    const link = new HttpControllerLink({ controller: urls.join(','), caPem: [a, b, c].map((x) => x.ca()).join('\n'), token: a.adminToken });
    const moves: [string, string][] = [];
    const watch = new RegistrationHolderWatch({ probe: (t) => link.registrationHolder(t), moved: (from, to) => moves.push([from, to]), intervalMs: 100, timeoutMs: 500 });
    return { moves, watch };
  };

  it('says nothing while the holder answers, and names the next controller once it has closed', async () => {
    const { moves, watch } = watchOver([a.url, c.url]);
    await watch.start();
    await new Promise((r) => setTimeout(r, 500));
    assert.deepEqual(moves, [], 'the holder answers: no move');
    await a.close();
    await waitFor('the move', () => moves.length > 0, 5_000, 50);
    watch.close();
    assert.deepEqual(moves, [[a.url, c.url]]);
  });

  it('leaves a controller whose host went silent within its probe timeout', async () => {
    const silentUrl = `https://127.0.0.1:${relay.port}`;
    const { moves, watch } = watchOver([silentUrl, c.url]);
    await watch.start();
    relay.goSilent();
    // The link's own calls give a controller 15 s; the probe gives it 0.5 s here.
    await waitFor('the move', () => moves.length > 0, 5_000, 50);
    watch.close();
    assert.deepEqual(moves, [[silentUrl, c.url]]);
  });
});
