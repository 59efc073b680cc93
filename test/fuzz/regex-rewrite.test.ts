// Property tests of rewrite.uriRegexRewrite, whose pattern and rewrite come from a user's
// VirtualService and whose input is any caller's path: a literal pattern and rewrite replace
// exactly every occurrence, `$` and `&` never act as JavaScript's replacement syntax, and \0
// gives the path back unchanged whatever the pattern.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { regexRewrite, rewriteProblem } from '../../core/routing/regex-rewrite.js';
import { fuzzParameters } from './fuzz-options.js';

const pathText = fc.stringMatching(/^[\/a-z$&.\-\\]{0,24}$/);
const literal = fc.stringMatching(/^[a-z$&.\-\/]{1,4}$/);
const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\\/-]/g, '\\$&');

describe('regex rewrite properties', () => {
  it('a literal pattern and a rewrite without escapes replace every occurrence, `$` and `&` literal', () => {
    fc.assert(
      fc.property(pathText, literal, fc.stringMatching(/^[a-z$&'`\/]{0,6}$/), (path, from, to) => {
        assert.equal(rewriteProblem(escape(from), to), undefined);
        assert.equal(regexRewrite(path, escape(from), to), path.split(from).join(to));
      }),
      fuzzParameters(),
    );
  });

  it('\\0 puts every match back: the path comes out unchanged', () => {
    fc.assert(
      fc.property(pathText, fc.constantFrom('a+', '[a-z]', '(\\/)([a-z]*)', '\\$', '.', 'x?', '(a)|(b)', '^/', '$'), (path, pattern) => {
        assert.equal(regexRewrite(path, pattern, '\\0'), path);
      }),
      fuzzParameters(),
    );
  });
});
