// A push to many proxies goes out in batches: the first proxies are answered while later ones
// still hold the old version, every watch is answered in the end, and a newer change arriving
// mid-push takes over so that every proxy ends with the newest version.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SnapshotHub } from '../../controller/snapshots/hub.js';
import type { ServiceInstance } from '../../core/catalog-model.js';
import type { CompileContext } from '../../core/snapshot/compile.js';

const PROXIES = 450;

function instance(i: number): ServiceInstance {
  return { id: `ratings-${i}`, service: 'ratings', namespace: 'default', address: `10.0.0.${i}`, port: 9080, labels: { version: 'v1' }, healthy: true };
}

describe('snapshot hub pushes', () => {
  it('answers watches batch by batch, every one in the end, and a newer change takes over', async () => {
    let endpoints = [instance(1)];
    const context = (): CompileContext => ({
      resources: [],
      services: new Map([['default/ratings', endpoints]]),
      trustDomain: 'cluster.local',
      rootNamespace: 'istio-system',
      trustBundle: [],
    });
    const hub = new SnapshotHub(context, { coalesceMs: 0, maxDelayMs: 0, forgetAfterMs: 60_000 });
    const refs = Array.from({ length: PROXIES }, (_, i) => ({ id: `productpage-${i}`, service: 'productpage', namespace: 'default' }));
    const old = new Map(refs.map((r) => [r.id, hub.current(r).version]));
    const holdsOld = () => refs.filter((r) => hub.get(r.id)!.version === old.get(r.id)).length;

    let stillOldAtFirstAnswer = -1;
    const answered = refs.map((r) =>
      hub.watch(r, old.get(r.id), 10_000).then((s) => {
        if (stillOldAtFirstAnswer < 0) {
          stillOldAtFirstAnswer = holdsOld();
          // A newer change while the push is under way.
          endpoints = [instance(1), instance(2), instance(3)];
          hub.invalidate();
        }
        return s.version;
      }),
    );
    endpoints = [instance(1), instance(2)];
    hub.invalidate();
    const versions = await Promise.all(answered);
    assert.ok(
      versions.every((v, i) => v !== old.get(refs[i].id)),
      'every watch is answered with a new version',
    );
    assert.ok(stillOldAtFirstAnswer > 0, `the first answer went out while ${stillOldAtFirstAnswer} proxies still held the old version`);
    assert.ok(stillOldAtFirstAnswer < PROXIES, 'and after the first batch was compiled');

    const withNewest = () => refs.filter((r) => hub.get(r.id)!.jsonParts.join('').includes('10.0.0.3')).length;
    for (let i = 0; i < 100 && withNewest() < PROXIES; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(withNewest(), PROXIES, 'every proxy ends with the newest change');
    hub.close();
  });
});
