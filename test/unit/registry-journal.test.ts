// The embedded registry's journal (controller/catalog/registry-journal.ts): what is replayed is
// what was registered, and a journal cut anywhere in its last line (a crash mid-append) loses
// that one change and nothing else. Property-tested over random histories.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { InstanceRegistration } from '../../core/catalog-model.js';
import { encodeEntry, replay, type JournalEntry } from '../../controller/catalog/registry-journal.js';
import { fuzzParameters } from '../fuzz/fuzz-options.js';

const ids = ['a', 'b', 'c', 'd'];
const reg = fc
  .record({ id: fc.constantFrom(...ids), port: fc.integer({ min: 1, max: 65535 }), labels: fc.dictionary(fc.constantFrom('version', 'zone'), fc.string({ maxLength: 6 })) })
  .map((x): InstanceRegistration => ({ id: x.id, service: 'reviews', address: '10.0.0.1', port: x.port, labels: x.labels }));
const entry: fc.Arbitrary<JournalEntry> = fc.oneof(
  reg.map((r) => ({ op: 'put' as const, r })),
  fc.constantFrom(...ids).map((id) => ({ op: 'del' as const, id })),
);

/** Maps compared as JSON (the generator's records have no prototype; parsed ones do). */
const plain = (m: Map<string, InstanceRegistration>) => JSON.parse(JSON.stringify([...m.entries()])) as unknown;

function model(base: InstanceRegistration[], entries: JournalEntry[]): Map<string, InstanceRegistration> {
  const m = new Map(base.map((r) => [r.id, r]));
  for (const e of entries)
    if (e.op === 'put') m.set(e.r.id, e.r);
    else m.delete(e.id);
  return m;
}

describe('registry journal', () => {
  it('replays to what was registered and deregistered, in order', () => {
    fc.assert(
      fc.property(fc.array(reg, { maxLength: 4 }), fc.array(entry, { maxLength: 30 }), (base, entries) => {
        const r = replay(base, entries.map(encodeEntry).join(''));
        assert.deepEqual(plain(r.registrations), plain(model(base, entries)));
        assert.equal(r.applied, entries.length);
        assert.equal(r.torn, false);
      }),
      fuzzParameters(),
    );
  });

  it('loses only the last change when the journal is cut inside its last line', () => {
    fc.assert(
      fc.property(fc.array(entry, { minLength: 1, maxLength: 20 }), fc.nat(), (entries, cutAt) => {
        const head = entries.slice(0, -1).map(encodeEntry).join('');
        const last = encodeEntry(entries[entries.length - 1]);
        const cut = 1 + (cutAt % (last.length - 2)); // at least one byte of it, never all of its JSON
        const r = replay([], head + last.slice(0, cut));
        assert.deepEqual(plain(r.registrations), plain(model([], entries.slice(0, -1))));
        assert.equal(r.torn, true);
        // All of its JSON but the newline: the change is whole, and kept.
        assert.deepEqual(plain(replay([], head + last.slice(0, -1)).registrations), plain(model([], entries)));
      }),
      fuzzParameters(),
    );
  });

  it('refuses a journal damaged before its end rather than guess', () => {
    assert.throws(() => replay([], '{"op":"put"\n{"op":"del","id":"a"}\n'), /JSON|journal/);
  });
});
