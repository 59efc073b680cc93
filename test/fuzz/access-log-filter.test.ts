// The Telemetry access-log filter (core/access-log/filter.ts), a parser of text from resources:
// any text is parsed or refused with FilterSyntaxError (nothing else, never a hang); every
// expression it can represent survives printing and parsing again; evaluation of any expression
// against any facts is a boolean, never an exception; and the filters Istio's docs show mean
// what they say.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { FILTER_ATTRIBUTES, FilterSyntaxError, filterPasses, parseFilter, printFilter, type Expr, type FilterFacts } from '../../core/access-log/filter.js';
import { fuzzParameters } from './fuzz-options.js';

const scalarAttrs = Object.keys(FILTER_ATTRIBUTES).filter((k) => FILTER_ATTRIBUTES[k] !== 'map');
const text = fc.string({ maxLength: 12 });

const exprArb: fc.Arbitrary<Expr> = fc.letrec<{ expr: Expr }>((tie) => ({
  expr: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.oneof(
      fc.record({ type: fc.constant('literal' as const), value: fc.oneof(text, fc.nat({ max: 100000 }), fc.boolean()) }),
      fc.record({ type: fc.constant('attribute' as const), name: fc.constantFrom(...scalarAttrs) }),
      fc.record({ type: fc.constant('attribute' as const), name: fc.constant('request.headers'), key: fc.stringMatching(/^[a-z][a-z0-9-]{0,10}$/) }),
    ),
    fc.record({ type: fc.constant('not' as const), operand: tie('expr') }),
    fc.record({ type: fc.constantFrom('and' as const, 'or' as const), left: tie('expr'), right: tie('expr') }),
    fc.record({
      type: fc.constant('compare' as const),
      op: fc.constantFrom('==' as const, '!=' as const, '<' as const, '<=' as const, '>' as const, '>=' as const),
      left: tie('expr'),
      right: tie('expr'),
    }),
    fc.record({ type: fc.constant('call' as const), fn: fc.constantFrom('startsWith' as const, 'endsWith' as const, 'contains' as const), target: tie('expr'), arg: tie('expr') }),
  ),
})).expr;

const factsArb: fc.Arbitrary<FilterFacts> = fc
  .record({ values: fc.dictionary(fc.constantFrom(...scalarAttrs), fc.oneof(text, fc.integer(), fc.boolean(), fc.constant(undefined))), headers: fc.dictionary(fc.string({ maxLength: 8 }), text) })
  .map(({ values, headers }) => ({ get: (n: string) => values[n], header: (n: string) => headers[n] }));

const facts = (values: Record<string, string | number | boolean>, headers: Record<string, string> = {}): FilterFacts => ({ get: (n) => values[n], header: (n) => headers[n] });

describe('access-log filter', () => {
  it('parses any text or refuses it with a FilterSyntaxError saying where', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 80 }), fc.stringMatching(/^[a-z.()'"!&|<>=\[\] 0-9]{0,60}$/)), (src) => {
        try {
          parseFilter(src);
        } catch (err) {
          assert.ok(err instanceof FilterSyntaxError, String(err));
          assert.ok(err.position >= 0 && err.position <= src.length, `position ${err.position} in ${JSON.stringify(src)}`);
        }
      }),
      fuzzParameters(),
    );
  });

  it('reads back what it prints', () => {
    fc.assert(
      fc.property(exprArb, (e) => assert.deepEqual(parseFilter(printFilter(e)), JSON.parse(JSON.stringify(e)))),
      fuzzParameters(),
    );
  });

  it('evaluates any expression against any facts to a boolean', () => {
    fc.assert(
      fc.property(exprArb, factsArb, (e, f) => assert.equal(typeof filterPasses(e, f), 'boolean')),
      fuzzParameters(),
    );
  });

  it("means what Istio's examples say", () => {
    const errors = parseFilter('response.code >= 400');
    assert.equal(filterPasses(errors, facts({ 'response.code': 503 })), true);
    assert.equal(filterPasses(errors, facts({ 'response.code': 200 })), false);
    const debug = parseFilter("request.headers['X-Debug'] == 'on' || !connection.mtls");
    assert.equal(filterPasses(debug, facts({ 'connection.mtls': true }, { 'x-debug': 'on' })), true);
    assert.equal(filterPasses(debug, facts({ 'connection.mtls': true })), false, 'a missing header is no match');
    assert.equal(filterPasses(debug, facts({ 'connection.mtls': false })), true);
    const api = parseFilter('request.url_path.startsWith(\'/api/\') && request.method != "GET"');
    assert.equal(filterPasses(api, facts({ 'request.url_path': '/api/x', 'request.method': 'POST' })), true);
    assert.equal(filterPasses(api, facts({ 'request.url_path': '/web', 'request.method': 'POST' })), false);
    // CEL compares one type only: a string and a number are an error, which logs nothing.
    assert.equal(filterPasses(parseFilter("response.code == '200'"), facts({ 'response.code': 200 })), false);
  });

  it('refuses what it does not know, by name', () => {
    assert.throws(() => parseFilter('response.size > 10'), /unknown attribute "response.size"/);
    assert.throws(() => parseFilter("request.path.matches('x')"), /only startsWith, endsWith and contains/);
    assert.throws(() => parseFilter('response.code >= 400 400'), /unexpected "400" after a complete expression/);
    assert.throws(() => parseFilter('('.repeat(200) + 'true' + ')'.repeat(200)), /nested more than 64 deep/);
  });
});
