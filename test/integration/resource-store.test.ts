// Two controllers' resource stores on one Consul KV: a change applied at one reaches the other
// through its watch, which hands back the same object for every resource that did not change
// (what the compiler's memo reuses, core/snapshot/compile-memo.ts) and a new one for what did.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import Consul from 'consul';
import { ConsulKvStore } from '../../controller/kv/consul-kv.js';
import { ResourceStore } from '../../controller/resources/resource-store.js';
import type { Resource } from '../../core/resources/types.js';
import { startConsul, type ConsulAgent } from '../helpers/consul.js';
import { waitFor } from '../helpers/ports.js';

const virtualService = (weight: number): Resource =>
  ({
    apiVersion: 'networking.istio.io/v1',
    kind: 'VirtualService',
    metadata: { name: 'reviews', namespace: 'default' },
    spec: {
      hosts: ['reviews'],
      http: [
        {
          route: [
            { destination: { host: 'reviews', subset: 'v1' }, weight: 100 - weight },
            { destination: { host: 'reviews', subset: 'v2' }, weight },
          ],
        },
      ],
    },
  }) as Resource;
const destinationRule = { apiVersion: 'networking.istio.io/v1', kind: 'DestinationRule', metadata: { name: 'reviews', namespace: 'default' }, spec: { host: 'reviews' } } as Resource;

describe('resource stores of two controllers on one Consul', () => {
  let agent: ConsulAgent;
  let a: ResourceStore;
  let b: ResourceStore;

  before(async () => {
    agent = await startConsul();
    const kv = () => new ConsulKvStore(new Consul({ host: '127.0.0.1', port: agent.httpPort }), 'mesh-rs-test/');
    a = new ResourceStore(kv());
    b = new ResourceStore(kv());
    await a.start();
    await b.start();
  });

  after(async () => {
    await a?.close();
    await b?.close();
    await agent?.stop();
  });

  const weightAtB = () => (b.list({ kind: 'VirtualService' })[0]?.spec as { http: { route: { weight: number }[] }[] } | undefined)?.http[0].route[1].weight;

  it('keep each unchanged resource the same object and bring a changed one anew', async () => {
    await a.apply(destinationRule);
    await a.apply(virtualService(10));
    await waitFor('both resources at b', () => b.list().length === 2 && weightAtB() === 10, 10_000);
    const dr = b.get('DestinationRule', 'default', 'reviews');
    const vs = b.get('VirtualService', 'default', 'reviews');

    await a.apply(virtualService(20));
    await waitFor('the new weight at b', () => weightAtB() === 20, 10_000);
    assert.equal(b.get('DestinationRule', 'default', 'reviews'), dr, 'the unchanged DestinationRule is the object held');
    assert.notEqual(b.get('VirtualService', 'default', 'reviews'), vs);

    // Deleted and created again with its first content: a new version, so a new object with that content.
    const before = b.get('VirtualService', 'default', 'reviews');
    await a.delete('VirtualService', 'default', 'reviews');
    await a.apply(virtualService(10));
    await waitFor('the recreated VirtualService at b', () => weightAtB() === 10, 10_000);
    const recreated = b.get('VirtualService', 'default', 'reviews');
    assert.notEqual(recreated, before);
    assert.notEqual(recreated.metadata.resourceVersion, before.metadata.resourceVersion);
  });
});
