// The mesh-wide telemetry view over a real Consul KV: a controller's window larger than one
// Consul value (512 KB: a mesh of a thousand services has thousands of edges) is written in parts
// and read whole by the others; a window that shrinks leaves no stale part counted twice; and a
// window half written counts as the one before it until it is whole.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import Consul from 'consul';
import { ConsulKvStore } from '../../controller/kv/consul-kv.js';
import type { KvStore } from '../../controller/kv/kv-store.js';
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

  /** `writes`: what the controller writes through (the store itself unless a test holds writes back); `prefix`: a test's own corner of Consul's KV. */
  const controller = async (partBytes?: number, writes?: (store: KvStore) => KvStore, prefix = 'mesh-telemetry-test/') => {
    const store = new ConsulKvStore(new Consul({ host: '127.0.0.1', port: consul.httpPort }), prefix);
    await store.start();
    stores.push(store);
    let view: SharedTelemetry | undefined;
    const aggregator = new TelemetryAggregator(WINDOW_MS, (now) => view!.peerEdges(now));
    view = new SharedTelemetry(writes ? writes(store) : store, aggregator, { publishMs: 3_600_000, windowMs: WINDOW_MS, onError: (err) => errors.push(err), maxPartBytes: partBytes });
    view.start();
    shared.push(view);
    return { aggregator, view, store };
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

  it('counts the window before while the next one is half written, and the new one once it is whole', async () => {
    // The writer's second part waits at a gate: the first is in Consul, the rest are not.
    let gate: Promise<void> | undefined;
    let open = () => undefined as void;
    let firstPartIn = () => undefined as void;
    const held = (store: KvStore): KvStore => ({
      start: () => store.start(),
      get: (key) => store.get(key),
      list: (prefix) => store.list(prefix),
      put: async (key, value, expected) => {
        if (gate && key.endsWith('/1')) {
          firstPartIn();
          await gate;
        }
        return store.put(key, value, expected);
      },
      delete: (key, expected) => store.delete(key, expected),
      watch: (prefix, onChange) => store.watch(prefix, onChange),
      healthy: () => store.healthy(),
      close: () => store.close(),
    });
    // A corner of its own: the earlier tests' windows are still fresh.
    const a = await controller(4096, held, 'mesh-telemetry-gated/');
    const b = await controller(4096, undefined, 'mesh-telemetry-gated/');
    const total = (now: number) => b.view.peerEdges(now).reduce((n, e) => n + e.requests, 0);
    const first = Date.now();
    a.aggregator.accept(report('ratings-1', 300, 1), first);
    await a.view.publish(first);
    await waitFor('the first window at b', () => total(first) === 300, 10_000, 100);

    const second = first + 1000;
    a.aggregator.accept(report('ratings-1', 300, 2), second);
    const expected = a.aggregator.window(second).reduce((n, e) => n + e.requests, 0);
    assert.ok(expected > 300);
    gate = new Promise<void>((r) => (open = r));
    const writing = new Promise<void>((r) => (firstPartIn = r));
    const publishing = a.view.publish(second);
    await writing; // the first part is in Consul, the second waits
    // b's watch has had time to see that part; it still counts the first window, whole.
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(total(second), 300);
    open();
    await publishing;
    await waitFor('the second window at b, whole', () => total(second) === expected, 10_000, 100);
    const left = (await a.store.list('telemetry/')).filter((e) => e.key.includes(a.view.id));
    assert.ok(
      left.every((e) => (JSON.parse(e.value) as { at: number }).at === second),
      `parts of the first window left: ${left.map((e) => e.key).join(', ')}`,
    );
    assert.deepEqual(errors, []);
  });
});
