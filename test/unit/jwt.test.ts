import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { authenticateJwt, parseJwks } from '../../core/policy/jwt.js';
import { claimHeaderValue } from '../../core/policy/jwt-claims.js';
import { compileJwtRule } from '../../core/snapshot/compile-inbound.js';
import type { JwtRule } from '../../core/resources/types.js';
import type { CompiledJwtRule } from '../../core/snapshot/types.js';
import { testIssuer } from '../helpers/jwt.js';

const now = Math.floor(Date.now() / 1000);

for (const alg of ['ES256', 'RS256'] as const) {
  describe(`JWT checks (${alg})`, () => {
    const issuer = testIssuer(alg);
    const other = testIssuer(alg);
    const rule: CompiledJwtRule = {
      issuer: 'https://issuer.test',
      audiences: ['bookinfo'],
      jwks: issuer.jwks,
      fromHeaders: [{ name: 'authorization', prefix: 'Bearer ' }],
      fromParams: ['access_token'],
      forwardOriginalToken: false,
    };
    const keys = () => parseJwks(issuer.jwks);
    const check = (token: string | undefined, query = '') => authenticateJwt([rule], token ? { authorization: `Bearer ${token}` } : {}, new URLSearchParams(query), keys, now);
    const good = { iss: 'https://issuer.test', sub: 'alice', aud: 'bookinfo', exp: now + 600, groups: ['admins'] };

    it('accepts a valid token and names the request principal', () => {
      const r = check(issuer.token(good));
      assert.equal(r.error, undefined);
      assert.equal(r.principal, 'https://issuer.test/alice');
      assert.deepEqual(r.claims?.groups, ['admins']);
      assert.deepEqual(r.location, { header: 'authorization' });
    });

    it('lets a request without a token through without a principal', () => {
      assert.deepEqual(check(undefined), {});
    });

    it('finds the token in a query parameter', () => {
      assert.equal(check(undefined, `access_token=${issuer.token(good)}`).principal, 'https://issuer.test/alice');
    });

    it('refuses bad signatures, unknown issuers, expired tokens and wrong audiences', () => {
      assert.equal(check(other.token(good)).error, 'Jwt verification fails');
      assert.match(check(issuer.token({ ...good, iss: 'https://evil.test' })).error ?? '', /issuer https:\/\/evil\.test is not configured/);
      assert.equal(check(issuer.token({ ...good, exp: now - 3600 })).error, 'Jwt is expired');
      assert.equal(check(issuer.token({ ...good, aud: ['other'] })).error, 'Audiences in Jwt are not allowed');
      assert.match(check('not-a-jwt').error ?? '', /Header\.Payload\.Signature/);
      const [h, p] = issuer.token(good).split('.');
      const none = `${Buffer.from(JSON.stringify({ alg: 'none' })).toString('base64url')}.${p}.`;
      assert.match(check(none).error ?? '', /algorithm none is not supported/);
      void h;
    });
  });
}

describe('JWT token locations and claim headers', () => {
  const issuer = testIssuer('ES256');
  const keys = () => parseJwks(issuer.jwks);
  const token = issuer.token({ iss: 'https://issuer.test', sub: 'alice', exp: now + 600 });
  const find = (rule: CompiledJwtRule, headers: Record<string, string | string[]>, query = '') => authenticateJwt([rule], headers, new URLSearchParams(query), keys, now);
  const rule = (jwtRule: Partial<JwtRule>) => compileJwtRule({ issuer: 'https://issuer.test', jwks: issuer.jwks, ...jwtRule });

  it('reads a token from a cookie the rule names, among others and in any Cookie field', () => {
    const r = rule({ fromCookies: ['session'] });
    assert.deepEqual(find(r, { cookie: `theme=dark; session=${token}; x=1` }).location, { cookie: 'session' });
    assert.equal(find(r, { cookie: ['theme=dark', `session="${token}"`] }).principal, 'https://issuer.test/alice', 'split over fields, quoted');
    assert.deepEqual(find(r, { cookie: `sessionx=${token}` }), {}, 'another cookie of a longer name is no token');
    assert.deepEqual(find(r, { authorization: `Bearer ${token}` }), {}, 'a rule with its own locations has no default ones');
  });

  it('takes the JWKS fetch timeout from the rule', () => {
    assert.equal(rule({ jwksUri: 'https://login.test/keys', jwks: undefined, timeout: '1.5s' }).jwksTimeoutMs, 1500);
    assert.equal(rule({}).jwksTimeoutMs, undefined, 'the default (5 s) when none is given');
  });

  it("keeps Envoy's default locations only for a rule that names none", () => {
    assert.deepEqual(find(rule({}), { authorization: `Bearer ${token}` }).location, { header: 'authorization' });
    assert.deepEqual(find(rule({}), {}, `access_token=${token}`).location, { param: 'access_token' });
    assert.deepEqual(find(rule({ fromParams: ['t'] }), { authorization: `Bearer ${token}` }), {}, 'fromParams alone: no Authorization header');
    assert.deepEqual(find(rule({ fromParams: ['t'] }), {}, `t=${token}`).location, { param: 't' });
  });

  it('copies string, integer and boolean claims, nested ones by their dotted path, and nothing else', () => {
    const claims = { foo: 'bar', n: 42, ok: false, f: 1.5, list: ['a'], obj: { k: 'v', deeper: { g: 'admins' } }, crlf: 'a\r\nx-evil: 1', utf: 'José', 'a.b': 'dotted' };
    assert.equal(claimHeaderValue(claims, 'foo'), 'bar');
    assert.equal(claimHeaderValue(claims, 'n'), '42');
    assert.equal(claimHeaderValue(claims, 'ok'), 'false');
    assert.equal(claimHeaderValue(claims, 'obj.k'), 'v');
    assert.equal(claimHeaderValue(claims, 'obj.deeper.g'), 'admins');
    for (const path of ['f', 'list', 'obj', 'missing', 'obj.missing', 'list.0', 'crlf', 'utf', 'a.b', 'toString', 'obj.__proto__', 'foo.length'])
      assert.equal(claimHeaderValue(claims, path), undefined, path);
  });
});
