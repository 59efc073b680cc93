// Property tests of the check that keeps route regexes within RE2's syntax (Istio's): patterns
// built from what RE2 has pass; a backreference or a lookaround anywhere outside a character class
// is found, whatever surrounds it; inside a class, the same characters are only characters.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { re2Problem } from '../../core/resources/re2-syntax.js';
import { fuzzParameters } from './fuzz-options.js';

/** Pieces of patterns RE2 takes (and JavaScript reads alike). */
const re2Piece = fc.constantFrom('a', 'b', '.', '\\.', '\\d', '\\w+', '[a-z]', '[^/]', '[\\]1]', '[(?=]', '(x)', '(?:y)', '(?<name>z)', '^', '$', '*', '?', '{1,3}', '|', '\\0', '\\\\');
/** What only JavaScript has. */
const forbidden = fc.constantFrom('\\1', '\\2', '\\9', '\\k<name>', '(?=a)', '(?!a)', '(?<=a)', '(?<!a)');

describe('RE2 syntax check', () => {
  it('passes patterns made of what RE2 has', () => {
    fc.assert(
      fc.property(fc.array(re2Piece, { maxLength: 12 }), (pieces) => {
        assert.equal(re2Problem(pieces.join('')), undefined, pieces.join(''));
      }),
      fuzzParameters(),
    );
  });

  it('finds a backreference or a lookaround placed anywhere between such pieces', () => {
    fc.assert(
      fc.property(fc.array(re2Piece, { maxLength: 8 }), forbidden, fc.array(re2Piece, { maxLength: 8 }), (before, bad, after) => {
        const source = [...before, bad, ...after].join('');
        assert.match(re2Problem(source) ?? '', /which RE2 \(Istio's regex syntax\) does not have$/, source);
      }),
      fuzzParameters(),
    );
  });

  it('never throws, whatever the text', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 40 }), (s) => {
        const r = re2Problem(s);
        assert.ok(r === undefined || typeof r === 'string');
      }),
      fuzzParameters(),
    );
  });
});
