import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { supersededOn, type HeldEntry } from '../../controller/consul/moved-registrations.js';

const mesh = { 'mesh-namespace': 'default' };
const entry = (node: string, id: string, index: number, meta: Record<string, string> | null = mesh): HeldEntry => ({ Node: { Node: node }, Service: { ID: id, ModifyIndex: index, Meta: meta } });

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
});
