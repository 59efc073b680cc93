import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ConsulCatalog } from '../../controller/catalog/consul-catalog.js';
import { EmbeddedCatalog } from '../../controller/catalog/embedded.js';
import type { ConsulLiveness } from '../../controller/consul/liveness.js';
import { startConsul, type ConsulAgent } from '../helpers/consul.js';
import { waitFor } from '../helpers/ports.js';
import { catalogContract } from './catalog.contract.js';

catalogContract('embedded', {
  async open() {
    return { catalog: new EmbeddedCatalog(join(mkdtempSync(join(tmpdir(), 'mesh-cat-')), 'registry.json')), close: async () => {} };
  },
});

catalogContract('consul', {
  async open() {
    const agent = await startConsul();
    return { catalog: new ConsulCatalog(agent.client), close: () => agent.stop() };
  },
});

// When Consul comes back, the catalog asks every service afresh (old indexes would make it wait
// out the whole blocking query). Answers with nothing new must not count as changes: at 1,000
// services each one recompiled every proxy's snapshot, and the controller fell behind for good.
describe('Consul catalog after Consul comes back', () => {
  let agent: ConsulAgent;
  let catalog: ConsulCatalog;
  const liveness = () => (catalog as unknown as { liveness: ConsulLiveness }).liveness;

  before(async () => {
    agent = await startConsul();
    for (let i = 0; i < 5; i++) await agent.client.catalog.register({ node: 'host-1', address: '127.0.0.1', service: { id: `svc-${i}-1`, service: `svc-${i}`, port: 8080 } });
    catalog = new ConsulCatalog(agent.client);
    await catalog.start();
    await waitFor('the five services', () => [...catalog.endpoints().values()].filter((l) => l.length === 1).length === 5, 10_000, 50);
  });

  after(async () => {
    await catalog?.close();
    await agent?.stop();
  });

  it('asks every service again and reports no change when nothing changed, then only what did', async () => {
    let changes = 0;
    const stop = catalog.onChange(() => changes++);
    liveness().emit('up');
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(changes, 0, 'answers with nothing new are no change');
    await agent.client.catalog.register({ node: 'host-1', address: '127.0.0.1', service: { id: 'svc-3-2', service: 'svc-3', port: 8081 } });
    await waitFor('the new instance', () => catalog.endpoints().get('default/svc-3')?.length === 2, 10_000, 50);
    assert.equal(changes, 1);
    stop();
  });

  it('keeps every watch when one of them fails while Consul answers', async () => {
    const watches = (catalog as unknown as { serviceWatches: Map<string, { emit(event: string, err: Error): void }> }).serviceWatches;
    const held = new Map(watches);
    let downs = 0;
    liveness().on('down', () => downs++);
    // What the client library reports when a blocking query's connection is reset.
    watches.get('svc-2')!.emit('error', new Error('read ECONNRESET'));
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(downs, 0, 'Consul answered the probe: not down');
    assert.ok(liveness().healthy());
    assert.ok(
      [...held].every(([name, w]) => watches.get(name) === w),
      'no watch was restarted',
    );
  });
});

// A host agent registers its instances again through whichever controller answers after its own
// is lost; the first controller's Consul agent may still hold them (only its process died).
describe('Consul catalog with an instance held by two Consul nodes', () => {
  let agent: ConsulAgent;
  let catalog: ConsulCatalog;

  before(async () => {
    agent = await startConsul();
    catalog = new ConsulCatalog(agent.client);
    await catalog.start();
  });

  after(async () => {
    await catalog?.close();
    await agent?.stop();
  });

  it('lists it once, as its newest registration says', async () => {
    const meta = (port: string) => ({ 'mesh-inbound-port': port });
    await agent.client.catalog.register({ node: 'host-a', address: '127.0.0.1', service: { id: 'twice-1', service: 'twice', port: 8080, meta: meta('15006') } });
    await waitFor('the instance', () => catalog.endpoints().get('default/twice')?.length === 1, 10_000, 50);
    await agent.client.catalog.register({ node: 'host-b', address: '127.0.0.1', service: { id: 'twice-1', service: 'twice', port: 8080, meta: meta('16006') } });
    await waitFor('the newer registration', () => catalog.endpoints().get('default/twice')?.[0]?.sidecar?.inboundPort === 16006, 10_000, 50);
    assert.equal(catalog.endpoints().get('default/twice')?.length, 1, 'one endpoint, not one per node');
  });

  // The controller's own agent is the test's agent; another host's agent is stood for by a
  // registration on another node in Consul's catalog (as its anti-entropy would write it).
  const heldHere = async () => Object.keys((await agent.client.agent.service.list()) as Record<string, unknown>);

  it("gives up this controller's copy once the instance is registered again on another node", async () => {
    await catalog.register({ id: 'moved-1', service: 'moved', address: '127.0.0.1', port: 8080, sidecar: { inboundPort: 15006 } });
    await waitFor('the first registration', () => catalog.endpoints().get('default/moved')?.length === 1, 10_000, 50);
    assert.ok((await heldHere()).includes('moved-1'));
    await agent.client.catalog.register({
      node: 'host-b',
      address: '127.0.0.1',
      service: { id: 'moved-1', service: 'moved', port: 8080, meta: { 'mesh-namespace': 'default', 'mesh-inbound-port': '16006' } },
    });
    await waitFor('the older copy gone from this agent', async () => !(await heldHere()).includes('moved-1'), 10_000, 100);
    // Deregistered where it lives now, it is gone from the mesh: nothing older is left to resurface.
    await agent.client.catalog.deregister({ node: 'host-b', serviceid: 'moved-1' } as never);
    await waitFor('no instance left', () => (catalog.endpoints().get('default/moved')?.length ?? 0) === 0, 10_000, 50);
  });

  // Measured on Consul 1.8.7: an agent that left (stopped gracefully) and starts again registers
  // what it held once more, with a newer ModifyIndex and its checks critical until they run. If
  // the instance had moved here meanwhile, this copy must not be given up for that one.
  it('keeps its copy while the newer one elsewhere does not pass, and gives it up once it does', async () => {
    await catalog.register({ id: 'back-2', service: 'back2', address: '127.0.0.1', port: 8080, sidecar: { inboundPort: 15006 } });
    await waitFor('the first registration', () => catalog.endpoints().get('default/back2')?.length === 1, 10_000, 50);
    const elsewhere = (status: string) =>
      agent.client.catalog.register({
        node: 'host-c',
        address: '127.0.0.1',
        service: { id: 'back-2', service: 'back2', port: 8080, meta: { 'mesh-namespace': 'default', 'mesh-inbound-port': '17006' } },
        check: { checkid: 'service:back-2', name: 'back-2', serviceid: 'back-2', status },
      } as never);
    await elsewhere('critical');
    // The catalog has answered with the critical copy since: a removal would have been started by now.
    await waitFor('the critical copy listed by Consul', async () => ((await agent.client.health.service('back2')) as unknown[]).length === 2, 10_000, 50);
    await new Promise((r) => setTimeout(r, 500));
    assert.ok((await heldHere()).includes('back-2'), 'the copy that passes stays');
    assert.equal(catalog.endpoints().get('default/back2')?.[0]?.sidecar?.inboundPort, 15006, 'and serves');
    await elsewhere('passing');
    await waitFor('this copy given up once the other passes', async () => !(await heldHere()).includes('back-2'), 10_000, 100);
    await waitFor('the other copy serving', () => catalog.endpoints().get('default/back2')?.[0]?.sidecar?.inboundPort === 17006, 10_000, 50);
  });

  it('keeps its copy when it is the newer one, and what the mesh did not register', async () => {
    await agent.client.catalog.register({ node: 'host-b', address: '127.0.0.1', service: { id: 'back-1', service: 'back', port: 8080, meta: { 'mesh-namespace': 'default' } } });
    await catalog.register({ id: 'back-1', service: 'back', address: '127.0.0.1', port: 8080, sidecar: { inboundPort: 15006 } });
    // Not the mesh's: no namespace in its metadata.
    await agent.client.agent.service.register({ id: 'other-1', name: 'other', port: 9000 });
    await agent.client.catalog.register({ node: 'host-b', address: '127.0.0.1', service: { id: 'other-1', service: 'other', port: 9000 } });
    await waitFor("this agent's copy listed", () => catalog.endpoints().get('default/back')?.[0]?.sidecar?.inboundPort === 15006, 10_000, 50);
    // The catalog has answered for both services since: a removal would have been started by now.
    await waitFor('the other service listed', () => catalog.endpoints().get('default/other')?.length === 1, 10_000, 50);
    await new Promise((r) => setTimeout(r, 500));
    const held = await heldHere();
    assert.ok(held.includes('back-1'), 'the newer copy stays');
    assert.ok(held.includes('other-1'), "another owner's service stays");
  });
});
