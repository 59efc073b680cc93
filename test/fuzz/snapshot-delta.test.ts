// Incremental snapshots (core/snapshot/delta.ts): for any two outbound configs, the delta the
// controller makes, applied by the proxy to the first, gives exactly the second, in the same
// order; a delta that does not fit what the proxy holds (another base, an unknown service, a
// broken order) is refused with why, never applied halfway.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { applyOutboundDelta, keyedServices, outboundDeltaJson, servicesDeltaJson, type OutboundDelta } from '../../core/snapshot/delta.js';
import type { OutboundConfig, OutboundService } from '../../core/snapshot/types.js';
import { fuzzParameters } from './fuzz-options.js';

const service = (name: string, namespace: string, external: boolean, port: number, endpoints: string[]): OutboundService => ({
  name,
  namespace,
  hosts: [name],
  external,
  ports: [{ port, protocol: 'http' }],
  httpRoutes: [],
  tcpRoutes: [],
  clusters: [
    {
      name: `outbound||${name}.${namespace}`,
      endpoints: endpoints.map((address) => ({ address, port, labels: {}, weight: 1 })),
    } as unknown as OutboundService['clusters'][number],
  ],
});

/** Outbound configs over a small name space, so that two draws share, change and lose services. */
const configArb: fc.Arbitrary<OutboundConfig> = fc
  .uniqueArray(
    fc.record({
      name: fc.constantFrom('reviews', 'ratings', 'details', 'api.example.com', 'db'),
      namespace: fc.constantFrom('shop', 'web'),
      external: fc.boolean(),
      port: fc.constantFrom(80, 9080),
      endpoints: fc.array(fc.constantFrom('10.0.0.1', '10.0.0.2', '10.0.0.3'), { maxLength: 3 }),
    }),
    { selector: (s) => `${s.external}/${s.namespace}/${s.name}`, maxLength: 8 },
  )
  .map((list) => ({ services: list.map((s) => service(s.name, s.namespace, s.external, s.port, s.endpoints)) }));

function deltaOf(base: OutboundConfig, next: OutboundConfig, baseVersion = 'v1'): OutboundDelta {
  const json = outboundDeltaJson(baseVersion, servicesDeltaJson(keyedServices(base)!, keyedServices(next)!));
  return (JSON.parse(json) as { delta: OutboundDelta }).delta;
}

describe('incremental snapshots', () => {
  it('a delta applied to its base gives the next config exactly, order included', () => {
    fc.assert(
      fc.property(configArb, configArb, (base, next) => {
        const held = JSON.parse(JSON.stringify(base)) as OutboundConfig;
        assert.deepEqual(applyOutboundDelta(held, 'v1', deltaOf(base, next)), next);
      }),
      fuzzParameters(),
    );
  });

  it('sends only what changed: one endpoint of one service costs that service alone, whatever the mesh', () => {
    const many = (n: number, changed: boolean): OutboundConfig => ({
      services: Array.from({ length: n }, (_, i) => service(`svc-${i}`, 'shop', false, 80, i === 7 && changed ? ['10.0.0.1', '10.0.0.9'] : ['10.0.0.1'])),
    });
    const small = deltaOf(many(20, false), many(20, true));
    const large = deltaOf(many(2000, false), many(2000, true));
    assert.deepEqual(
      large.upsert.map((s) => s.name),
      ['svc-7'],
    );
    assert.equal(large.remove.length, 0);
    assert.equal(large.order, undefined, 'no service came or went: no order');
    assert.equal(JSON.stringify(large).length, JSON.stringify(small).length);
  });

  it('refuses a delta that does not fit what is held, saying why', () => {
    const base = { services: [service('a', 'shop', false, 80, []), service('b', 'shop', false, 80, [])] };
    const next = { services: [service('b', 'shop', false, 80, ['10.0.0.1'])] };
    const d = deltaOf(base, next);
    assert.throws(() => applyOutboundDelta(base, 'v0', d), /against version v1, the proxy holds v0/);
    assert.throws(() => applyOutboundDelta({ services: [base.services[1]] }, 'v1', d), /removes "mesh\/shop\/a", which the proxy does not hold/);
    assert.throws(() => applyOutboundDelta(base, 'v1', { ...d, order: ['mesh/shop/b', 'mesh/shop/b'] }), /names a service twice/);
    assert.throws(() => applyOutboundDelta(base, 'v1', { base: 'v1', upsert: [service('c', 'shop', false, 80, [])], remove: [] }), /adds a service without saying where/);
    assert.throws(() => applyOutboundDelta(base, 'v1', { base: 'v1', upsert: [], remove: [], order: ['mesh/shop/a'] }), /leaves services out/);
  });

  it('sends whole a config in which two services share a key', () => {
    const twice = { services: [service('api.example.com', 'shop', true, 443, []), service('api.example.com', 'shop', true, 443, [])] };
    assert.equal(keyedServices(twice), undefined);
  });
});
