// Golden files of compiled proxy snapshots. After an intended change of the compiler, run
// `UPDATE_GOLDEN=1 npm test` and review the diff of test/golden/.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import type { ServiceInstance } from '../../core/catalog-model.js';
import { parseDocuments } from '../../core/resources/parse.js';
import { validateResource } from '../../core/resources/validate.js';
import { SnapshotCompiler, type CompileContext } from '../../core/snapshot/compile.js';
import { checkGoldenJson } from '../helpers/golden.js';

const fixtures = new URL('../../../test/fixtures/', import.meta.url);

function instance(id: string, service: string, version: string, address: string, port = 9080): ServiceInstance {
  return { id, service, namespace: 'default', address, port, protocol: 'http', labels: { version }, sidecar: { inboundPort: 15006 }, healthy: true };
}

function context(): CompileContext {
  const resources = parseDocuments(readFileSync(new URL('snapshot-input.yaml', fixtures), 'utf8'), 'snapshot-input.yaml').map((d) => validateResource(d.value, d.where));
  const services = new Map<string, ServiceInstance[]>([
    ['default/productpage', [instance('productpage-1', 'productpage', 'v1', '10.0.0.10')]],
    ['default/details', [{ ...instance('details-1', 'details', 'v1', '10.0.0.20'), serviceAccount: 'bookinfo-details' }]],
    ['default/reviews', [instance('reviews-v1', 'reviews', 'v1', '10.0.0.31'), instance('reviews-v2', 'reviews', 'v2', '10.0.0.32'), instance('reviews-v3', 'reviews', 'v3', '10.0.0.33')]],
    ['default/ratings', [{ ...instance('ratings-1', 'ratings', 'v1', '10.0.0.40'), sidecar: undefined, protocol: undefined }]],
  ]);
  return { resources, services, trustDomain: 'cluster.local', rootNamespace: 'istio-system', trustBundle: ['-----BEGIN CERTIFICATE-----\nROOT\n-----END CERTIFICATE-----\n'] };
}

describe('snapshot compilation (golden files)', () => {
  it('compiles the productpage proxy: outbound routes and clusters for every service', () => {
    const { snapshot, jsonParts } = new SnapshotCompiler(context()).compile({ id: 'productpage-1', service: 'productpage', namespace: 'default' });
    assert.deepEqual(JSON.parse(jsonParts.join('')), snapshot);
    assert.equal(jsonParts[2], JSON.stringify(snapshot.outbound), 'the outbound JSON joined from its services is the config serialised whole');
    checkGoldenJson('snapshot-productpage', snapshot);
  });

  it('compiles the reviews-v2 proxy: inbound mTLS per port, authorization, JWT', () => {
    const { snapshot } = new SnapshotCompiler(context()).compile({ id: 'reviews-v2', service: 'reviews', namespace: 'default' });
    checkGoldenJson('snapshot-reviews-v2', snapshot);
  });

  it('compiles the ratings proxy: source-label matches select routes per proxy', () => {
    const { snapshot } = new SnapshotCompiler(context()).compile({ id: 'ratings-1', service: 'ratings', namespace: 'default' });
    const reviews = snapshot.outbound.services.find((s) => s.name === 'reviews')!;
    assert.equal(reviews.httpRoutes[0].name, 'default/reviews/jason');
    assert.deepEqual(reviews.httpRoutes[0].match[1], {}, 'the sourceLabels match applies to ratings and becomes match-all');
    assert.equal(reviews.httpRoutes[0].match.length, 2);
    const pp = new SnapshotCompiler(context()).compile({ id: 'productpage-1', service: 'productpage', namespace: 'default' }).snapshot;
    assert.equal(pp.outbound.services.find((s) => s.name === 'reviews')!.httpRoutes[0].match.length, 1, 'productpage keeps only the header match');
  });

  it('gives equal content an equal version and changed content a new one', () => {
    const ref = { id: 'productpage-1', service: 'productpage', namespace: 'default' };
    const a = new SnapshotCompiler(context()).compile(ref).snapshot.version;
    const b = new SnapshotCompiler(context()).compile(ref).snapshot.version;
    assert.equal(a, b);
    const ctx = context();
    (ctx.services as Map<string, ServiceInstance[]>).get('default/details')!.push(instance('details-2', 'details', 'v1', '10.0.0.21'));
    assert.notEqual(new SnapshotCompiler(ctx).compile(ref).snapshot.version, a);
  });

  it('compiles each proxy of a round as a compiler of its own would: what replicas share stays theirs', () => {
    // The three reviews versions differ in labels (so in routes selected by sourceLabels and
    // policies selecting a version), a fourth reviews replica only in its id, and a replica
    // serving another port only in its inbound ports.
    const ctx = context();
    const reviews = (ctx.services as Map<string, ServiceInstance[]>).get('default/reviews')!;
    reviews.push(instance('reviews-v2-b', 'reviews', 'v2', '10.0.0.34'), instance('reviews-v2-c', 'reviews', 'v2', '10.0.0.35', 9443));
    const refs = [
      ...['reviews-v1', 'reviews-v2', 'reviews-v2-b', 'reviews-v2-c', 'reviews-v3'].map((id) => ({ id, service: 'reviews', namespace: 'default' })),
      { id: 'ratings-1', service: 'ratings', namespace: 'default' },
      { id: 'gw', service: 'reviews', namespace: 'default', gateway: true, labels: { istio: 'ingressgateway' } },
      { id: 'reviews-v2-d', service: 'reviews', namespace: 'default', serviceAccount: 'other' },
    ];
    const round = new SnapshotCompiler(ctx);
    const versions = new Set<string>();
    for (const ref of refs) {
      const shared = round.compile(ref);
      const alone = new SnapshotCompiler(ctx).compile(ref);
      assert.deepEqual(shared.snapshot, alone.snapshot, ref.id);
      assert.deepEqual(shared.jsonParts, alone.jsonParts, ref.id);
      assert.deepEqual(JSON.parse(shared.jsonParts.join('')), shared.snapshot, ref.id);
      versions.add(shared.snapshot.version);
    }
    assert.equal(versions.size, refs.length, 'every proxy has a version of its own (its identity differs)');
    const [b, c] = ['reviews-v2-b', 'reviews-v2-c'].map((id) => round.compile({ id, service: 'reviews', namespace: 'default' }).snapshot.inbound.ports.map((p) => p.port));
    assert.deepEqual([b, c], [[9080], [9443]]);
  });
});
