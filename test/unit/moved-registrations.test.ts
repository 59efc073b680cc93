import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { supersededOn, type HeldEntry } from '../../controller/consul/moved-registrations.js';

const mesh = { 'mesh-namespace': 'default' };
const entry = (node: string, id: string, index: number, meta: Record<string, string> | null = mesh, checks = ['passing']): HeldEntry => ({
  Node: { Node: node },
  Service: { ID: id, ModifyIndex: index, Meta: meta },
  Checks: checks.map((Status) => ({ Status })),
});

describe('supersededOn', () => {
  it('names the copies held here that another node registered later', () => {
    assert.deepEqual(supersededOn('a', [entry('a', 'x-1', 10), entry('b', 'x-1', 12), entry('a', 'x-2', 11)]), ['x-1']);
  });

  it('keeps a copy that is newer than every other', () => {
    assert.deepEqual(supersededOn('a', [entry('b', 'x-1', 10), entry('a', 'x-1', 12), entry('c', 'x-1', 11)]), []);
  });

  it('compares with the newest copy elsewhere, not the first listed', () => {
    assert.deepEqual(supersededOn('a', [entry('b', 'x-1', 5), entry('a', 'x-1', 8), entry('c', 'x-1', 9)]), ['x-1']);
  });

  it("leaves what the mesh did not register, and other nodes' copies", () => {
    assert.deepEqual(supersededOn('a', [entry('a', 'x-1', 1, null), entry('b', 'x-1', 2), entry('b', 'x-3', 1), entry('c', 'x-3', 4)]), []);
  });

  // A Consul agent that left and came back registers what it held again, newer, with its checks
  // critical until they run; its controller may be gone. The copy that passes keeps serving.
  it('is not superseded by a newer copy elsewhere that does not pass', () => {
    assert.deepEqual(supersededOn('b', [entry('b', 'x-1', 10), entry('a', 'x-1', 14, mesh, ['passing', 'critical'])]), []);
    assert.deepEqual(supersededOn('b', [entry('b', 'x-1', 10), entry('a', 'x-1', 14, mesh, ['critical']), entry('c', 'x-1', 12)]), ['x-1'], 'an older copy that passes still does');
  });

  it('gives up its own copy for a newer one that passes, whether its own passes or not', () => {
    assert.deepEqual(supersededOn('a', [entry('a', 'x-1', 10, mesh, ['critical']), entry('b', 'x-1', 12)]), ['x-1']);
    assert.deepEqual(supersededOn('a', [entry('a', 'x-1', 10, mesh, []), entry('b', 'x-1', 12, mesh, [])]), ['x-1'], 'no checks at all is passing, as in Consul');
  });
});
