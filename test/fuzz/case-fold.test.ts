// Property test of case-insensitive route regexes written without the `i` flag (so that V8's
// linear-time fallback can take them): for patterns made of letters, classes, ranges, negated
// classes, groups (named ones too), quantifiers and escapes, and any ASCII input, the folded
// pattern matches exactly what the pattern with the `i` flag matches.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { asciiCaseInsensitive } from '../../core/routing/case-fold.js';
import { fuzzParameters } from './fuzz-options.js';

const piece = fc.oneof(
  fc.constantFrom('a', 'B', 'z', 'Q', '.', '\\.', '\\d', '\\w', '\\W', '\\b', '\\s', '/', '-', '_', '0', '9', '\\\\', '\\/'),
  fc.constantFrom('[a-f]', '[A-F]', '[^a-c]', '[^X]', '[a-zA-Z0-9]', '[_a]', '[]a]', '[0-9]', '[\\]b]', '[\\dk]', '[^\\w]', '[Y-b]', '[ -~]'),
  fc.constantFrom('(', ')', '(?:', '(?<name>', '*', '+', '?', '{2}', '{1,3}', '|', '^', '$'),
);

/** A pattern of pieces that JavaScript compiles (unbalanced parentheses and stray quantifiers are dropped by trying). */
const pattern = fc.array(piece, { maxLength: 10 }).map((pieces) => {
  const source = pieces.join('');
  try {
    new RegExp(source);
    return source;
  } catch {
    return pieces.filter((p) => /^[a-zA-Z0-9\\.[]/.test(p)).join('');
  }
});

const input = fc.stringMatching(/^[a-zA-Z0-9_./ -]{0,12}$/);

describe('case-insensitive regexes without the i flag', () => {
  it('match exactly what the i flag matches, on any ASCII input', () => {
    fc.assert(
      fc.property(pattern, fc.array(input, { minLength: 1, maxLength: 5 }), (source, inputs) => {
        let withFlag: RegExp;
        try {
          withFlag = new RegExp(source, 'i');
        } catch {
          return; // not a pattern validation would let through
        }
        // Searched anywhere in the input (the route's anchors come on top), so that short random
        // inputs meet the pattern often; the same match at the same place.
        const folded = new RegExp(asciiCaseInsensitive(source));
        for (const x of inputs) {
          const a = folded.exec(x);
          const b = withFlag.exec(x);
          assert.deepEqual(a && [a.index, a[0]], b && [b.index, b[0]], `${source} on ${JSON.stringify(x)} (folded: ${asciiCaseInsensitive(source)})`);
        }
      }),
      fuzzParameters(1000),
    );
  });
});
