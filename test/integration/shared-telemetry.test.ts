// The mesh-wide telemetry view over a real Consul KV: a controller's window larger than one
// Consul value (512 KB: a mesh of a thousand services has thousands of edges) is written in parts
// and read whole by the others; a window that shrinks leaves no stale part counted twice.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import Consul from 'consul';
import { ConsulKvStore } from '../../controller/kv/consul-kv.js';
import { TelemetryAggregator } from '../../controller/telemetry/aggregator.js';
import { SharedTelemetry } from '../../controller/telemetry/shared-telemetry.js';
import { startConsul, type ConsulAgent } from '../helpers/consul.js';
import { waitFor } from '../helpers/ports.js';

const WINDOW_MS = 60_000;

function report(proxy: string, edges: number, requests: number) {
  return {
    proxy,
    intervalMs: 1000,
    edges: Array.from({ length: edges }, (_, i) => ({
      source: `default/caller-${i}`,
      destination: `default/service-${i % 1000}`,
      requests,
      errors: 0,
      mtls: requests,
      latencyBuckets: Array.from({ length: 20 }, (_, k) => (k === 3 ? requests : 0)),
    })),
  };
}

describe('telemetry shared through Consul KV', () => {
  let consul: ConsulAgent;
  const stores: ConsulKvStore[] = [];
  const shared: SharedTelemetry[] = [];
  const errors: unknown[] = [];

  const controller = async (partBytes?: number) => {
    const store = new ConsulKvStore(new Consul({ host: '127.0.0.1', port: consul.httpPort }), 'mesh-telemetry-test/');
    await store.start();
    stores.push(store);
    let view: SharedTelemetry | undefined;
    const aggregator = new TelemetryAggregator(WINDOW_MS, (now) => view!.peerEdges(now));
    view = new SharedTelemetry(store, aggregator, { publishMs: 3_600_000, windowMs: WINDOW_MS, onError: (err) => errors.push(err), maxPartBytes: partBytes });
    view.start();
    shared.push(view);
    return { aggregator, view };
  };

  before(async () => {
    consul = await startConsul();
  });

  after(async () => {
    for (const s of shared) s.close();
    for (const s of stores) await s.close();
    await consul?.stop();
  });

  it('shares a window of 4,000 edges, more than one Consul value holds', async () => {
    const a = await controller();
    const b = await controller();
    a.aggregator.accept(report('productpage-1', 4000, 7));
    assert.ok(Buffer.byteLength(JSON.stringify(a.aggregator.window())) > 512 * 1024, 'the window is larger than a Consul value');
    await a.view.publish();
    await waitFor('the whole window at the other controller', () => b.view.peerEdges().length === 4000, 10_000, 100);
    assert.equal(
      b.view.peerEdges().reduce((n, e) => n + e.requests, 0),
      4000 * 7,
    );
    assert.deepEqual(errors, []);
  });

  it('counts a window that shrank once, with no part of the longer one left over', async () => {
    const a = await controller(4096);
    const b = await controller(4096);
    a.aggregator.accept(report('reviews-1', 300, 1));
    await a.view.publish(Date.now());
    await waitFor('300 edges at b', () => b.view.peerEdges().filter((e) => e.requests === 1).length === 300, 10_000, 100);
    // A later window: only 10 edges are fresh (the old report has aged out of a's window).
    const later = Date.now() + WINDOW_MS + 1;
    a.aggregator.accept(report('reviews-1', 10, 5), later);
    await a.view.publish(later);
    await waitFor(
      'only the new window at b',
      () => {
        const edges = b.view.peerEdges(later).filter((e) => e.source.startsWith('default/caller-') && (e.requests === 1 || e.requests === 5));
        return edges.length === 10 && edges.every((e) => e.requests === 5);
      },
      10_000,
      100,
    );
    const left = (await stores[0].list('telemetry/')).filter((e) => e.key.includes(a.view.id));
    assert.equal(left.length, 1, `parts left: ${left.map((e) => e.key).join(', ')}`);
    assert.deepEqual(errors, []);
  });
});
