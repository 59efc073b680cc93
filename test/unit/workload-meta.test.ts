// Istio's workload labels, derived as Istio derives them, and the metadata a source sidecar sends
// the destination's: written and read back, and anything else refused (property).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { decodePeer, encodePeer, serviceFqdn, workloadMeta } from '../../core/workload-meta.js';

describe('workload metadata', () => {
  it('names a workload by service and version, as Bookinfo deployments are named', () => {
    assert.deepEqual(workloadMeta('reviews', 'default', { version: 'v2' }, 'cluster.local'), {
      workload: 'reviews-v2',
      namespace: 'default',
      app: 'reviews',
      version: 'v2',
      cluster: 'cluster.local',
      canonicalService: 'reviews',
      canonicalRevision: 'v2',
    });
    const plain = workloadMeta('ratings', 'prod', {}, 'cluster.local');
    assert.equal(plain.workload, 'ratings');
    assert.equal(plain.version, 'unknown');
    assert.equal(plain.canonicalRevision, 'latest');
    const canonical = workloadMeta('web', 'default', { app: 'shop', 'service.istio.io/canonical-name': 'storefront', 'service.istio.io/canonical-revision': '7' }, 'c');
    assert.deepEqual([canonical.app, canonical.canonicalService, canonical.canonicalRevision], ['shop', 'storefront', '7']);
    assert.equal(serviceFqdn('reviews', 'default'), 'reviews.default.svc.cluster.local');
  });

  it('reads back what it writes, and refuses anything else (property)', () => {
    const field = fc.stringMatching(/^[A-Za-z0-9._-]{1,20}$/);
    fc.assert(
      fc.property(fc.record({ workload: field, namespace: field, app: field, version: field, cluster: field, canonicalService: field, canonicalRevision: field }), (m) => {
        assert.deepEqual(decodePeer(encodePeer(m)), { ...m });
      }),
      { numRuns: Number(process.env.FUZZ_RUNS ?? 500) },
    );
    fc.assert(
      fc.property(fc.string(), (text) => {
        const m = decodePeer(text);
        if (m) assert.equal(encodePeer(m), text);
      }),
      { numRuns: Number(process.env.FUZZ_RUNS ?? 500) },
    );
    for (const bad of [undefined, ['a;b'], 'a;b;c', 'a;b;c;d;e;f;g;h', 'a;b;c;d;e;f;g h', 'a;b;c;d;e;f;']) assert.equal(decodePeer(bad as string), undefined, String(bad));
  });
});
