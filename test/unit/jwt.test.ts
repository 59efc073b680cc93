import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { authenticateJwt, parseJwks } from '../../core/policy/jwt.js';
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
