// A compile round reuses what the round before made of the same inputs: services' outbound
// entries, proxies' own parts (compile-memo.ts). Whatever changes between rounds, every proxy's snapshot must be exactly what
// a compiler without a memo makes of the same inputs; and what did not change must be reused.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { ServiceInstance } from '../../core/catalog-model.js';
import { parseDocuments } from '../../core/resources/parse.js';
import type { Resource } from '../../core/resources/types.js';
import { validateResource } from '../../core/resources/validate.js';
import { SnapshotCompiler, type CompileContext, type ProxyRef } from '../../core/snapshot/compile.js';
import { fuzzParameters } from '../fuzz/fuzz-options.js';

const fixtures = new URL('../../../test/fixtures/', import.meta.url);
const baseResources = parseDocuments(readFileSync(new URL('snapshot-input.yaml', fixtures), 'utf8'), 'snapshot-input.yaml').map((d) => validateResource(d.value, d.where));

function instance(id: string, service: string, version: string, address: string): ServiceInstance {
  return { id, service, namespace: 'default', address, port: 9080, protocol: 'http', labels: { version }, sidecar: { inboundPort: 15006 }, healthy: true };
}

const SERVICES = ['productpage', 'details', 'reviews', 'ratings', 'extra'];

function baseCatalog(): Map<string, ServiceInstance[]> {
  return new Map([
    ['default/productpage', [instance('productpage-1', 'productpage', 'v1', '10.0.0.10')]],
    ['default/details', [instance('details-1', 'details', 'v1', '10.0.0.20')]],
    ['default/reviews', [instance('reviews-v1', 'reviews', 'v1', '10.0.0.31'), instance('reviews-v2', 'reviews', 'v2', '10.0.0.32'), instance('reviews-v3', 'reviews', 'v3', '10.0.0.33')]],
    ['default/ratings', [instance('ratings-1', 'ratings', 'v1', '10.0.0.40')]],
  ]);
}

// ratings' routes differ (a reviews route matches sourceLabels app=ratings), the gateway's compile no Sidecar.
const refs: ProxyRef[] = [
  { id: 'productpage-1', service: 'productpage', namespace: 'default' },
  { id: 'reviews-v2', service: 'reviews', namespace: 'default' },
  { id: 'ratings-1', service: 'ratings', namespace: 'default' },
  { id: 'gw', service: 'gateway', namespace: 'default', gateway: true, labels: { istio: 'ingressgateway' } },
];

/** A change between two rounds, as the catalog and the resource store hand them over: new objects for what changed, the same for the rest. */
type Change = { op: 'endpoints'; service: number; variant: number } | { op: 'remove-service'; service: number } | { op: 'touch' | 'drop'; resource: number } | { op: 'restore' } | { op: 'nothing' };

const changeArb: fc.Arbitrary<Change> = fc.oneof(
  fc.record({ op: fc.constant('endpoints' as const), service: fc.nat(SERVICES.length - 1), variant: fc.nat(4) }),
  fc.record({ op: fc.constant('remove-service' as const), service: fc.nat(SERVICES.length - 1) }),
  fc.record({ op: fc.constantFrom('touch' as const, 'drop' as const), resource: fc.nat(50) }),
  fc.constant({ op: 'restore' as const }),
  fc.constant({ op: 'nothing' as const }),
);

function apply(ctx: CompileContext, change: Change): CompileContext {
  const services = new Map(ctx.services);
  let resources = ctx.resources;
  switch (change.op) {
    case 'endpoints': {
      const name = SERVICES[change.service];
      const held = services.get(`default/${name}`) ?? [];
      // New objects: the same content again, one instance fewer, one more, or another address.
      const copy = held.map((i) => ({ ...i }));
      if (change.variant === 1) copy.pop();
      if (change.variant === 2) copy.push(instance(`${name}-${held.length + 1}`, name, 'v1', `10.0.1.${held.length + 1}`));
      if (change.variant === 3 && copy[0]) copy[0] = { ...copy[0], address: '10.0.2.1' };
      // Relabelled: the proxies of the service change shape and identity.
      if (change.variant === 4) copy.forEach((i, n) => (copy[n] = { ...i, labels: { version: 'v9' }, serviceAccount: 'relabelled' }));
      services.set(`default/${name}`, copy);
      break;
    }
    case 'remove-service':
      services.delete(`default/${SERVICES[change.service]}`);
      break;
    case 'touch':
      // The same content as a new object: a resource applied again with another version.
      resources = resources.map((r, i) => (i === change.resource % resources.length ? (structuredClone(r) as Resource) : r));
      break;
    case 'drop':
      resources = resources.filter((_, i) => i !== change.resource % resources.length);
      break;
    case 'restore':
      resources = baseResources;
      break;
    case 'nothing':
      break;
  }
  return { ...ctx, services, resources };
}

const context = (): CompileContext => ({
  resources: baseResources,
  services: baseCatalog(),
  trustDomain: 'cluster.local',
  rootNamespace: 'istio-system',
  trustBundle: ['-----BEGIN CERTIFICATE-----\nROOT\n-----END CERTIFICATE-----\n'],
});

describe('compile rounds that reuse the round before', () => {
  it('compile every proxy as a compiler without a memo does, through any sequence of changes', () => {
    fc.assert(
      fc.property(fc.array(changeArb, { minLength: 1, maxLength: 8 }), (changes) => {
        let ctx = context();
        let round = new SnapshotCompiler(ctx);
        for (const ref of refs) round.compile(ref);
        for (const change of changes) {
          ctx = apply(ctx, change);
          round = new SnapshotCompiler(ctx, round.memo);
          for (const ref of refs) {
            const reused = round.compile(ref);
            const fresh = new SnapshotCompiler(ctx).compile(ref);
            assert.deepEqual(reused.jsonParts, fresh.jsonParts, `${ref.id} after ${JSON.stringify(change)}`);
            assert.deepEqual(reused.outbound.keyed(), fresh.outbound.keyed(), `${ref.id}'s keyed services after ${JSON.stringify(change)}`);
          }
        }
      }),
      fuzzParameters(200),
    );
  });

  it("reuse the entries and the JSON of services (and ServiceEntries' hosts) whose inputs are the same objects, and compile a changed one anew; reuse policies made of the same resources", () => {
    const ctx = context();
    const first = new SnapshotCompiler(ctx).compile(refs[0]).outbound;
    const next = apply(ctx, { op: 'endpoints', service: 2, variant: 3 }); // reviews: another address
    const second = new SnapshotCompiler(next, new SnapshotCompiler(ctx).memo).compile(refs[0]).outbound;
    // The memo above is of a round that compiled nothing: nothing to reuse, the same content.
    assert.equal(second.json, first.json.replaceAll('10.0.0.31', '10.0.2.1'));
    const round1 = new SnapshotCompiler(ctx);
    const a = round1.compile(refs[0]).outbound;
    const inbound = refs.map((ref) => round1.compile(ref).snapshot.inbound);
    const round2 = new SnapshotCompiler(next, round1.memo);
    const b = round2.compile(refs[0]).outbound;
    const byName = (piece: typeof a, name: string) => piece.config.services.find((s) => s.name === name)!;
    for (const name of ['productpage', 'details', 'ratings']) {
      assert.equal(byName(b, name), byName(a, name), `${name} reused`);
      assert.equal(b.keyed()!.json.get(`mesh/default/${name}`), a.keyed()!.json.get(`mesh/default/${name}`), `${name}'s JSON reused`);
    }
    assert.notEqual(byName(b, 'reviews'), byName(a, 'reviews'), 'reviews compiled anew');
    // A ServiceEntry's host: reused while the entry is the same object, compiled anew once it is applied again.
    const external = 'api.payments.example.com';
    assert.ok(byName(a, external), 'the fixture has a ServiceEntry');
    assert.equal(byName(b, external), byName(a, external), `${external} reused`);
    const reapplied = { ...next, resources: next.resources.map((r) => (r.kind === 'ServiceEntry' ? (structuredClone(r) as Resource) : r)) };
    const c = new SnapshotCompiler(reapplied, round2.memo).compile(refs[0]).outbound;
    assert.notEqual(byName(c, external), byName(b, external), `${external} compiled anew`);
    assert.deepEqual(byName(c, external), byName(b, external), 'to the same content');
    assert.equal(byName(c, 'details'), byName(b, 'details'), 'the rest still reused');
    // The policies are the same resources: every shape's inbound policy is reused, the changed service's proxies' too.
    refs.forEach((ref, i) => assert.equal(round2.compile(ref).snapshot.inbound, inbound[i], `${ref.id}'s inbound policy reused`));
    assert.equal(byName(b, 'reviews').clusters[0].endpoints[0].address, '10.0.2.1');
  });
});
