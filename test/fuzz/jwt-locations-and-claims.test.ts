// Property tests of the two readers RequestAuthentication added for fromCookies and
// outputClaimToHeaders, both fed by callers: a Cookie header finds exactly the first cookie of
// the name asked for, whatever else it carries; a token's claims never give a header value with
// a byte that could end the header or start another.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { cookieValue } from '../../core/policy/cookies.js';
import { claimHeaderValue } from '../../core/policy/jwt-claims.js';
import { fuzzParameters } from './fuzz-options.js';

const cookieName = fc.stringMatching(/^[A-Za-z0-9_.-]{1,8}$/);
/** Cookie values as RFC 6265 allows them: no space, quote, comma, semicolon or backslash. */
const cookieOctets = fc.stringMatching(/^[\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]{0,12}$/);
const pair = fc.record({ name: cookieName, value: cookieOctets, quoted: fc.boolean(), space: fc.constantFrom('', ' ', '  ') });

describe('cookie header reader', () => {
  it('finds the first cookie of the name, as written, in any field split and spacing', () => {
    fc.assert(
      fc.property(fc.array(pair, { maxLength: 8 }), cookieName, fc.integer({ min: 1, max: 3 }), (pairs, wanted, fields) => {
        const written = pairs.map((p) => `${p.space}${p.name}=${p.quoted ? `"${p.value}"` : p.value}`);
        const per = Math.ceil(written.length / fields) || 1;
        const header = fields === 1 ? written.join(';') : Array.from({ length: Math.ceil(written.length / per) }, (_, i) => written.slice(i * per, (i + 1) * per).join('; '));
        const first = pairs.find((p) => p.name === wanted);
        assert.equal(cookieValue(header, wanted), first?.value);
      }),
      fuzzParameters(),
    );
  });

  it('never throws and never returns a semicolon, whatever the header holds', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.array(fc.string(), { maxLength: 4 })), fc.string({ maxLength: 6 }), (header, name) => {
        const v = cookieValue(header, name);
        assert.ok(v === undefined || !v.includes(';'));
      }),
      fuzzParameters(),
    );
  });
});

/** Nested JSON objects as a token payload holds them, with the keys a path can name. */
const claims = fc.letrec<{ node: unknown }>((tie) => ({
  node: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.string(),
    fc.integer(),
    fc.double(),
    fc.boolean(),
    fc.constant(null),
    fc.array(tie('node'), { maxLength: 3 }),
    fc.dictionary(fc.constantFrom('a', 'b', 'c', '__proto__', 'constructor'), tie('node'), { maxKeys: 3 }),
  ),
})).node;

describe('claim header values', () => {
  it('are what the path names when it is a printable string, integer or boolean, and never carry a control or non-ASCII character', () => {
    fc.assert(
      fc.property(
        fc.dictionary(fc.constantFrom('a', 'b', 'c'), claims, { maxKeys: 3 }),
        fc.array(fc.constantFrom('a', 'b', 'c', '__proto__', 'length', '0'), { minLength: 1, maxLength: 4 }),
        (payload, keys) => {
          // Through JSON, as a token's payload arrives.
          const parsed = JSON.parse(JSON.stringify(payload)) as Record<string, unknown>;
          const value = claimHeaderValue(parsed, keys.join('.'));
          if (value !== undefined) assert.match(value, /^[\t\x20-\x7e]*$/);
          let at: unknown = parsed;
          for (const k of keys) at = at !== null && typeof at === 'object' && !Array.isArray(at) && Object.hasOwn(at, k) ? (at as Record<string, unknown>)[k] : undefined;
          const scalar = typeof at === 'string' ? at : typeof at === 'boolean' || (typeof at === 'number' && Number.isSafeInteger(at)) ? String(at) : undefined;
          assert.equal(value, scalar !== undefined && /^[\t\x20-\x7e]*$/.test(scalar) ? scalar : undefined);
        },
      ),
      fuzzParameters(),
    );
  });
});
