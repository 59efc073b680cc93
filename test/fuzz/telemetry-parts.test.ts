// Splitting a telemetry window into parts for the shared store (core/telemetry-parts.ts): for any
// window and any size limit, the parts in order are the window, each part's JSON fits the limit
// unless it is a single edge (or an empty window) larger than the limit, and no part but the
// first is empty.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { partsOfAtMost } from '../../core/telemetry-parts.js';
import type { EdgeReport } from '../../core/telemetry.js';
import { fuzzParameters } from './fuzz-options.js';

const edgeArb: fc.Arbitrary<EdgeReport> = fc.record({
  source: fc.string({ maxLength: 40, unit: 'grapheme' }),
  destination: fc.string({ maxLength: 40, unit: 'grapheme' }),
  requests: fc.nat(),
  errors: fc.nat(),
  mtls: fc.nat(),
  latencyBuckets: fc.array(fc.nat(), { minLength: 20, maxLength: 20 }),
});

describe('telemetry window parts', () => {
  it('keeps every edge in order, each part within the limit', () => {
    fc.assert(
      fc.property(fc.array(edgeArb, { maxLength: 60 }), fc.integer({ min: 1, max: 4000 }), (edges, maxBytes) => {
        const parts = partsOfAtMost(edges, maxBytes);
        assert.ok(parts.length >= 1);
        assert.deepEqual(parts.flat(), edges);
        for (const [i, part] of parts.entries()) {
          if (i > 0) assert.ok(part.length > 0, `part ${i} is empty`);
          const bytes = Buffer.byteLength(JSON.stringify(part));
          // A single edge (or the empty window's `[]`) may exceed a tiny limit: it cannot be split.
          assert.ok(bytes <= maxBytes || part.length <= 1, `part ${i} of ${part.length} edges takes ${bytes} bytes, over ${maxBytes}`);
        }
      }),
      fuzzParameters(),
    );
  });

  it('writes an empty window as one empty part', () => {
    assert.deepEqual(partsOfAtMost([], 100), [[]]);
  });
});
