// Property test of route regexes with large repetitions written out for V8's linear-time engine
// (core/routing/linear-repetition.ts): for patterns of characters, classes, groups (capturing,
// named, non-capturing), alternatives and repetitions up to {0,40} nested, the rewritten pattern
// compiles on the linear engine (the `l` flag, which fails when V8 would have to backtrack) and
// matches exactly what the pattern matches, with the same groups; a regex rewrite's captures are
// those of the last repetition either way. The original patterns run on the backtracking engine,
// some of them without a fallback (that is the point of the rewrite), so they run in a worker
// that is given up on after a while: a pattern that takes that long is skipped.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { Worker } from 'node:worker_threads';
import fc from 'fast-check';
import { linearRepetitions, MAX_WRITTEN, routeRegExp } from '../../core/routing/linear-repetition.js';
import { fuzzParameters } from './fuzz-options.js';

// The `l` flag: compile on the linear engine or throw; and the sidecar's fallback, without which
// the original patterns would backtrack for hours on some inputs. Set before any pattern below is compiled.
setFlagsFromString('--enable-experimental-regexp-engine');
setFlagsFromString('--enable-experimental-regexp-engine-on-excessive-backtracks');

const quantifier = fc.oneof(
  fc.constantFrom('', '', '*', '+', '?', '*?', '+?'),
  fc.tuple(fc.integer({ min: 0, max: 40 }), fc.integer({ min: 0, max: 40 }), fc.constantFrom('', '?')).map(([a, b, lazy]) => `{${Math.min(a, b)},${Math.max(a, b)}}${lazy}`),
  fc.integer({ min: 0, max: 40 }).map((n) => `{${n}}`),
  fc.integer({ min: 0, max: 20 }).map((n) => `{${n},}`),
);

const letters = fc.constantFrom('a', 'b', '.', '[ab]', '[^a]', '\\d', 'ab', '\\x61', '{', '{,3}');

/** A pattern: letters and groups, each maybe repeated, groups nested to depth two (three levels of {0,40} pass MAX_WRITTEN). */
const pattern: fc.Arbitrary<string> = fc.letrec<{ seq: string; item: string; group: string }>((tie) => ({
  seq: fc.array(fc.oneof({ weight: 4, arbitrary: tie('item') }, { weight: 1, arbitrary: fc.constant('|') }), { maxLength: 4 }).map((xs) => xs.join('')),
  item: fc.tuple(fc.oneof({ maxDepth: 2, depthIdentifier: 'group' }, letters, tie('group')), quantifier).map(([a, q]) => `${a}${q}`),
  group: fc.tuple(fc.constantFrom('(', '(?:', '(?<g>'), tie('seq')).map(([open, inner]) => `${open}${inner})`),
})).seq;

/** Compiles as JavaScript does, or undefined (a named group repeated, `{` where it is a quantifier error, ...). */
function compiled(source: string, flags = ''): RegExp | undefined {
  try {
    return new RegExp(source, flags);
  } catch {
    return undefined;
  }
}

const input = fc.stringMatching(/^[ab1{,3}x]{0,12}$/);

/** Runs the original patterns on the backtracking engine, in a worker that can be stopped. */
class Oracle {
  private worker = Oracle.start();
  private static start(): Worker {
    const w = new Worker(
      `const { parentPort } = require('node:worker_threads');
       parentPort.on('message', ({ source, inputs }) => {
         const re = new RegExp(source);
         parentPort.postMessage(inputs.map((s) => re.test(s)));
       });`,
      { eval: true },
    );
    w.unref();
    return w;
  }
  /** Whether the pattern matches each input, or undefined when it takes longer than `ms`. */
  async test(source: string, inputs: string[], ms = 2000): Promise<boolean[] | undefined> {
    const w = this.worker;
    const answer = new Promise<boolean[]>((resolve) => w.once('message', resolve));
    w.postMessage({ source, inputs });
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), ms)));
    const result = await Promise.race([answer, late]);
    clearTimeout(timer);
    if (result === undefined) {
      await w.terminate();
      this.worker = Oracle.start();
    }
    return result;
  }
  close(): Promise<number> {
    return this.worker.terminate();
  }
}

describe('large repetitions written out for the linear engine', () => {
  it('match what the pattern matches, with the same groups, on the linear engine', async () => {
    const oracle = new Oracle();
    try {
      await fc.assert(
        fc.asyncProperty(pattern, fc.array(input, { minLength: 1, maxLength: 5 }), async (source, inputs) => {
          fc.pre(compiled(`^(?:${source})$`) !== undefined);
          const rewritten = linearRepetitions(source);
          const re = routeRegExp(`^(?:${source})$`);
          // Written out, unless it would pass MAX_WRITTEN (then left as written, as it was).
          if (rewritten !== source) assert.ok(re.flags.includes('l'), `${JSON.stringify(rewritten)} (from ${JSON.stringify(source)}) is not for the linear engine`);
          // The empty alternative first: it matches at once, whatever the pattern would do.
          assert.equal(new RegExp(`|${rewritten}`, re.flags).exec('')!.length, new RegExp(`|${source}`).exec('')!.length, 'the same number of groups');
          const expected = await oracle.test(`^(?:${source})$`, inputs);
          fc.pre(expected !== undefined);
          inputs.forEach((s, k) => assert.equal(re.test(s), expected[k], `${JSON.stringify(source)} -> ${JSON.stringify(rewritten)} on ${JSON.stringify(s)}`));
        }),
        fuzzParameters(),
      );
    } finally {
      await oracle.close();
    }
  });

  it('leaves a pattern V8 can run in linear time as it is', () => {
    fc.assert(
      fc.property(pattern, (source) => {
        fc.pre(compiled(`^(?:${source})$`, 'l') !== undefined);
        assert.equal(linearRepetitions(source), source);
      }),
      fuzzParameters(),
    );
  });

  it('writes out the patterns that backtracked: (a{1,30})+ and friends', () => {
    for (const source of ['/redos/(a{1,30})+', '(?:[0-9]{1,20}\\.)+x', '^/api/v[0-9]{1,100}$', '(ab){2,50}', 'a{40,}', '(?<n>a|b){0,40}?']) {
      assert.ok(routeRegExp(source).flags.includes('l'), `${source} -> ${linearRepetitions(source)}`);
    }
    // At once, where the backtracking engine takes about 2^40 steps.
    assert.equal(routeRegExp('^(?:/redos/(a{1,30})+)$').test(`/redos/${'a'.repeat(40)}!`), false);
    assert.equal(linearRepetitions('(a{1,30})+'), '(?:a{1}a{0,16}a{0,13})*(a{1}a{0,16}a{0,13})');
  });

  it('keeps the last repetition in a group a rewrite refers to', () => {
    const source = '/(x|yy){3,20}/';
    const path = '/xyyxxyyx/';
    assert.equal(path.replace(routeRegExp(source, 'g'), '[$1]'), path.replace(new RegExp(source, 'g'), '[$1]'));
  });

  it('leaves what JavaScript would not compile as written, and repetitions too large to write out', () => {
    for (const source of ['(a{1,30}', 'a{1,30})', 'a{2000}']) assert.equal(linearRepetitions(source), source);
    const nested = '(?:(?:(?:a{0,40}){0,40}){0,40}){0,40}';
    assert.equal(linearRepetitions(nested), nested, `past ${MAX_WRITTEN} characters written out`);
  });
});
