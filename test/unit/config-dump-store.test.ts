// The controller's store of sidecar state reports (controller/api/config-dump-store.ts): each
// workload identity holds at most its byte budget, loses its own oldest reports first, and never
// pushes out another identity's.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { ConfigDumpStore } from '../../controller/api/config-dump-store.js';

const bytes = (n: number) => Buffer.alloc(n, 0x20);

describe('config dump store', () => {
  it('drops the least recently reported proxies of an identity past its budget, and only those', () => {
    const store = new ConfigDumpStore(1000);
    store.put('other-1', 'ns/other', bytes(900), 0);
    for (let i = 0; i < 5; i++) store.put(`a-${i}`, 'ns/a', bytes(300), i);
    assert.deepEqual(
      ['a-0', 'a-1', 'a-2', 'a-3', 'a-4'].map((id) => store.get(id) !== undefined),
      [false, false, true, true, true],
    );
    assert.equal(store.get('other-1')?.raw.length, 900, "another identity's report stays");
    // A proxy that reports again moves to the back of the line.
    store.put('a-2', 'ns/a', bytes(300), 5);
    store.put('a-5', 'ns/a', bytes(300), 6);
    assert.equal(store.get('a-3'), undefined);
    assert.ok(store.get('a-2') && store.get('a-4') && store.get('a-5'));
    assert.equal(store.bytes, 900 + 900);
  });

  it('forgets what the hub no longer knows, and its bytes with it', () => {
    const store = new ConfigDumpStore(10_000);
    store.put('x', 'ns/a', bytes(10), 0);
    store.put('y', 'ns/b', bytes(20), 0);
    store.prune((id) => id === 'y');
    assert.equal(store.get('x'), undefined);
    assert.equal(store.size, 1);
    assert.equal(store.bytes, 20);
  });

  it('refuses a budget that is not a positive whole number of bytes', () => {
    assert.throws(() => new ConfigDumpStore(0), /maxBytesPerIdentity: a positive whole number of bytes, got 0/);
    assert.throws(() => new ConfigDumpStore(1.5), RangeError);
  });

  it('property: every identity within budget (or one report over it), bytes summed right, the newest report always kept', () => {
    const op = fc.record({ id: fc.integer({ min: 0, max: 12 }), identity: fc.constantFrom('ns/a', 'ns/b', 'ns/c'), size: fc.integer({ min: 0, max: 400 }) });
    fc.assert(
      fc.property(fc.array(op, { maxLength: 80 }), (ops) => {
        const budget = 1000;
        const store = new ConfigDumpStore(budget);
        const owner = new Map<string, string>();
        ops.forEach((o, t) => {
          const id = `${o.identity}-${o.id}`;
          store.put(id, o.identity, bytes(o.size), t);
          owner.set(id, o.identity);
          assert.equal(store.get(id)?.receivedAt, t, 'the report just made is kept');
        });
        const perIdentity = new Map<string, number>();
        let total = 0;
        for (const [id, identity] of owner) {
          const held = store.get(id);
          if (!held) continue;
          perIdentity.set(identity, (perIdentity.get(identity) ?? 0) + held.raw.length);
          total += held.raw.length;
        }
        for (const used of perIdentity.values()) assert.ok(used <= budget, `identity holds ${used} bytes`);
        assert.equal(store.bytes, total);
      }),
    );
  });
});
