// A proxy's telemetry report, as the controller reads it (controller/telemetry/aggregator.ts):
// whatever a caller sends, it is refused with a typed error naming what is wrong, or taken with
// every count finite and non-negative, so that no report can poison the window's sums; and a
// workload's report is taken only for edges of its own namespace.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { MeshError } from '../../core/errors.js';
import { LATENCY_BUCKETS_MS } from '../../core/telemetry.js';
import { MAX_EDGES_PER_IDENTITY, TelemetryAggregator, validateReport } from '../../controller/telemetry/aggregator.js';
import { fuzzParameters } from './fuzz-options.js';

const BUCKETS = LATENCY_BUCKETS_MS.length + 1;
// Numbers as JSON can carry them (1e999 reads as Infinity) and as a careless caller sends them.
const anyNumber = fc.oneof(fc.nat(), fc.double(), fc.constantFrom(-1, -0, 0, Infinity, -Infinity, Number.NaN, 1e999, 2 ** 53));
const anyValue = fc.oneof(anyNumber, fc.string({ maxLength: 8 }), fc.constant(null), fc.boolean());
const edge = fc.record(
  {
    source: fc.oneof(fc.constantFrom('default/productpage', 'shop/cart', 'unknown', 'with space', ''), fc.string({ maxLength: 12 })),
    destination: fc.constantFrom('default/reviews', 'shop/payments'),
    requests: fc.oneof(anyNumber, anyValue),
    errors: fc.oneof(anyNumber, anyValue),
    mtls: anyNumber,
    latencyBuckets: fc.oneof(fc.array(anyNumber, { minLength: BUCKETS, maxLength: BUCKETS }), fc.array(anyNumber, { maxLength: BUCKETS + 2 }), anyValue),
  },
  { requiredKeys: ['source', 'destination'] },
);
const report = fc.oneof(
  fc.record({ proxy: fc.constantFrom('p-1', ''), intervalMs: anyNumber, edges: fc.array(edge, { maxLength: 4 }) }),
  fc.jsonValue().map((v) => v as unknown),
);

const finiteCount = (n: unknown) => typeof n === 'number' && Number.isFinite(n) && n >= 0;

describe('telemetry reports', () => {
  it('are refused with a typed error, or taken with every count finite and non-negative (property)', () => {
    fc.assert(
      fc.property(report, (input) => {
        let taken;
        try {
          taken = validateReport(input);
        } catch (err) {
          assert.ok(err instanceof MeshError, `not a MeshError: ${String(err)}`);
          assert.ok(['INVALID_ARGUMENT', 'VALIDATION_FAILED'].includes(err.code), err.code);
          return;
        }
        assert.ok(finiteCount(taken.intervalMs) && taken.intervalMs > 0);
        for (const e of taken.edges) {
          assert.ok(finiteCount(e.requests) && finiteCount(e.errors) && (e.mtls === undefined || finiteCount(e.mtls)));
          assert.equal(e.latencyBuckets.length, BUCKETS);
          assert.ok(e.latencyBuckets.every(finiteCount));
        }
      }),
      fuzzParameters(),
    );
  });

  it("from a workload, are taken for edges of the workload's own namespace only (property)", () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom('shop/cart', 'shop/web', 'default/productpage', 'shopping/cart', 'shop'), { minLength: 1, maxLength: 4 }), (sources) => {
        const aggregator = new TelemetryAggregator(60_000);
        const input = {
          proxy: 'cart-1',
          intervalMs: 10_000,
          edges: sources.map((source) => ({ source, destination: 'shop/payments', requests: 1, errors: 0, latencyBuckets: new Array(BUCKETS).fill(0) })),
        };
        const own = sources.every((s) => s.startsWith('shop/'));
        try {
          aggregator.accept(input, 0, { namespace: 'shop', serviceAccount: 'cart' });
          assert.ok(own, `taken with a foreign edge: ${sources.join(', ')}`);
          assert.equal(aggregator.services(0)[0].requests, sources.length);
        } catch (err) {
          assert.ok(!own, `refused although every edge is of shop: ${String(err)}`);
          assert.equal((err as MeshError).code, 'PERMISSION_DENIED');
          assert.deepEqual(aggregator.services(0), [], 'a refused report leaves nothing behind');
        }
      }),
      fuzzParameters(),
    );
  });

  it('from one workload identity, are held up to a quota of edges in the window, then refused until the window moves on', () => {
    const aggregator = new TelemetryAggregator(60_000);
    const edges = (n: number, source: string) => Array.from({ length: n }, (_, i) => ({ source, destination: `shop/d-${i}`, requests: 1, errors: 0, latencyBuckets: new Array(BUCKETS).fill(0) }));
    const report = (n: number, source = 'shop/cart') => ({ proxy: 'cart-1', intervalMs: 10_000, edges: edges(n, source) });
    const cart = { namespace: 'shop', serviceAccount: 'cart' };
    aggregator.accept(report(MAX_EDGES_PER_IDENTITY - 1), 0, cart);
    aggregator.accept(report(1), 1, cart);
    assert.throws(
      () => aggregator.accept(report(1), 2, cart),
      (err: MeshError) => err.code === 'RESOURCE_EXHAUSTED' && /shop\/cart has 100000 edges in the last 60 s/.test(err.message),
    );
    // Another identity, and the admin token, have quotas of their own (the admin none).
    aggregator.accept(report(1, 'shop/web'), 3, { namespace: 'shop', serviceAccount: 'web' });
    aggregator.accept(report(1), 4);
    // Once the first report has left the window, its edges leave the quota; the one sent at 1 ms still counts.
    aggregator.accept(report(MAX_EDGES_PER_IDENTITY - 1), 60_001, cart);
    assert.throws(
      () => aggregator.accept(report(1), 60_001, cart),
      (err: MeshError) => err.code === 'RESOURCE_EXHAUSTED',
    );
  });
});
