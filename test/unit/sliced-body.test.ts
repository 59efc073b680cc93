// Cutting a response body into slices: every byte once, in order, no slice over the limit.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { slicesOf } from '../../controller/api/sliced-body.js';
import { fuzzParameters } from '../fuzz/fuzz-options.js';

describe('response body slices', () => {
  it('keep every byte in order, fill each slice but the last, and never exceed the limit', () => {
    const parts = fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 12 });
    fc.assert(
      fc.property(parts, fc.integer({ min: 1, max: 128 }), (raw, limit) => {
        const input = raw.map((p) => Buffer.from(p));
        const slices = slicesOf(input, limit);
        const sizes = slices.map((s) => s.reduce((n, b) => n + b.length, 0));
        assert.deepEqual(Buffer.concat(slices.flat()), Buffer.concat(input));
        assert.ok(sizes.every((n) => n > 0 && n <= limit));
        assert.ok(
          sizes.slice(0, -1).every((n) => n === limit),
          `only the last slice may be short: ${sizes.join(',')}`,
        );
      }),
      fuzzParameters(),
    );
  });

  it('does not copy the parts', () => {
    const part = Buffer.alloc(10, 1);
    const [[first]] = slicesOf([part], 4);
    first[0] = 2;
    assert.equal(part[0], 2);
  });
});
