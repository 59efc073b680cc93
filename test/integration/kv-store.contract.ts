// One suite for every KvStore implementation.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { MeshError } from '../../core/errors.js';
import type { KvEntry, KvStore } from '../../controller/kv/kv-store.js';
import { waitFor } from '../helpers/ports.js';

export interface KvHarness {
  /** A fresh store; `second` gives another client of the same backend (another controller). */
  open(): Promise<{ store: KvStore; second(): Promise<KvStore>; close(): Promise<void> }>;
}

export function kvStoreContract(name: string, harness: KvHarness): void {
  describe(`KvStore contract: ${name}`, () => {
    let store: KvStore;
    let second: () => Promise<KvStore>;
    let close: () => Promise<void>;
    before(async () => {
      ({ store, second, close } = await harness.open());
      await store.start();
    });
    after(async () => {
      await store.close();
      await close();
    });

    it('puts, gets and lists by prefix', async () => {
      const v1 = await store.put('a/one', '1');
      await store.put('a/two', '2');
      await store.put('b/three', '3');
      assert.equal((await store.get('a/one'))?.value, '1');
      assert.equal((await store.get('a/one'))?.version, v1);
      assert.equal(await store.get('a/missing'), undefined);
      assert.deepEqual(
        (await store.list('a/')).map((e) => [e.key, e.value]),
        [
          ['a/one', '1'],
          ['a/two', '2'],
        ],
      );
    });

    it('writes with a version only when nobody changed the key since (compare-and-set)', async () => {
      const v = await store.put('cas/x', 'first', 0);
      await assert.rejects(store.put('cas/x', 'again', 0), (e: MeshError) => e.code === 'CONFLICT');
      const v2 = await store.put('cas/x', 'second', v);
      assert.notEqual(v2, v);
      await assert.rejects(store.put('cas/x', 'stale', v), (e: MeshError) => e.code === 'CONFLICT');
      assert.equal((await store.get('cas/x'))?.value, 'second');
      await assert.rejects(store.delete('cas/x', v), (e: MeshError) => e.code === 'CONFLICT');
      assert.equal(await store.delete('cas/x', v2), true);
      assert.equal(await store.delete('cas/x'), false);
    });

    it('keeps text exactly, including unicode and newlines', async () => {
      const text = 'line one\nlinje två ✓ {"json": true}';
      await store.put('text/k', text);
      assert.equal((await store.get('text/k'))?.value, text);
    });

    it('tells watchers about changes, from this client and from another', async () => {
      const seen: KvEntry[][] = [];
      const stop = store.watch('w/', (entries) => seen.push(entries));
      await store.put('w/1', 'a');
      await waitFor('own write', () => seen.some((s) => s.some((e) => e.key === 'w/1')));
      const other = await second();
      await other.start();
      await other.put('w/2', 'b');
      await waitFor("another client's write", () => seen.some((s) => s.some((e) => e.key === 'w/2' && e.value === 'b')), 3000);
      stop();
      await other.close();
    });
  });
}
