import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ClusterBalancer, endpointKey } from '../../core/routing/balancer.js';
import type { Endpoint, OutlierDetection } from '../../core/snapshot/types.js';

const ep = (n: number): Endpoint => ({ address: `10.0.0.${n}`, port: 9080, sidecarPort: 15006, labels: {}, weight: 1 });
const four = [ep(1), ep(2), ep(3), ep(4)];
const od: OutlierDetection = { consecutive5xxErrors: 3, consecutiveGatewayErrors: 0, intervalMs: 1000, baseEjectionTimeMs: 30_000, maxEjectionPercent: 50, minHealthPercent: 0 };
let seed = 1;
const random = () => (seed = (seed * 16807) % 2147483647) / 2147483647;

describe('cluster balancer', () => {
  it('rotates round robin over all endpoints', () => {
    const b = new ClusterBalancer({ type: 'ROUND_ROBIN' }, undefined, four);
    const seen = Array.from({ length: 8 }, () => b.pick({ now: 0, random })!.address);
    assert.deepEqual(seen, ['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.4', '10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.4']);
  });

  it('keeps a consistent-hash key on one endpoint, and moves only its keys when that endpoint goes', () => {
    const b = new ClusterBalancer({ type: 'CONSISTENT_HASH', header: 'x-user' }, undefined, four);
    const keys = Array.from({ length: 200 }, (_, i) => `user-${i}`);
    const before = new Map(keys.map((k) => [k, endpointKey(b.pick({ now: 0, random, hashKey: k })!)]));
    for (const k of keys) assert.equal(endpointKey(b.pick({ now: 0, random, hashKey: k })!), before.get(k));
    b.update({ type: 'CONSISTENT_HASH', header: 'x-user' }, undefined, [ep(1), ep(2), ep(3)]);
    for (const k of keys) {
      const now = endpointKey(b.pick({ now: 0, random, hashKey: k })!);
      if (before.get(k) !== endpointKey(ep(4))) assert.equal(now, before.get(k), `${k} moved although its endpoint stayed`);
    }
  });

  it('prefers the less busy endpoint under least request', () => {
    const b = new ClusterBalancer({ type: 'LEAST_REQUEST' }, undefined, [ep(1), ep(2)]);
    for (let i = 0; i < 10; i++) b.started(ep(1));
    const picks = Array.from({ length: 50 }, () => b.pick({ now: 0, random })!.address);
    assert.ok(picks.filter((a) => a === '10.0.0.2').length > 30);
  });

  it('ejects after consecutive 5xx for the base time, never more than maxEjectionPercent', () => {
    const b = new ClusterBalancer({ type: 'ROUND_ROBIN' }, od, four);
    const fail = (e: Endpoint, now: number) => {
      b.started(e);
      return b.finished(e, 503, now);
    };
    assert.equal(fail(ep(1), 0), false);
    assert.equal(fail(ep(1), 0), false);
    assert.equal(fail(ep(1), 0), true, 'third consecutive 5xx ejects');
    for (let i = 0; i < 8; i++) assert.notEqual(b.pick({ now: 1, random })!.address, '10.0.0.1');
    for (let i = 0; i < 3; i++) fail(ep(2), 1);
    assert.equal(b.ejectedCount(1), 2);
    for (let i = 0; i < 3; i++) fail(ep(3), 1);
    assert.equal(b.ejectedCount(1), 2, '50% of four endpoints: two at most');
    assert.equal(b.ejectedCount(30_001), 0, 'back after the base ejection time');
  });

  it('resets the count on success and admits within pool limits', () => {
    const b = new ClusterBalancer({ type: 'ROUND_ROBIN' }, od, four);
    const pool = { maxConnections: 1, maxPendingRequests: 1, maxRequests: 100, maxRequestsPerConnection: 0, maxRetries: 3, connectTimeoutMs: 1000, idleTimeoutMs: 1000 };
    for (const status of [503, 503, 200, 503, 503]) {
      b.started(ep(1));
      assert.equal(b.finished(ep(1), status, 0), false);
    }
    assert.equal(b.admit(pool), true);
    b.started(ep(1));
    b.started(ep(2));
    assert.equal(b.admit(pool), false, 'one connection and one pending request are in use');
  });
});
