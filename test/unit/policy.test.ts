import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { authorize, type AuthzRequest } from '../../core/policy/authz.js';
import { normalisePath } from '../../core/policy/paths.js';
import type { InboundConfig } from '../../core/snapshot/types.js';

describe('path normalisation (the 2019-2021 authorization bypasses)', () => {
  const cases: [string, string | undefined][] = [
    ['/admin', '/admin'],
    ['/public/../admin', '/admin'],
    ['/public/%2e%2e/admin', '/admin'],
    ['/public/%2E%2E/admin', '/admin'],
    ['//admin', '/admin'],
    ['/./admin/.', '/admin/'],
    ['/a/b/../../admin', '/admin'],
    ['/../../admin', '/admin'],
    ['/%61dmin', '/admin'],
    ['/admin%20panel', '/admin%20panel'],
    ['/public%2F..%2Fadmin', undefined],
    ['/public%5c..%5cadmin', undefined],
    ['/public\\..\\admin', undefined],
    ['/admin#frag', undefined],
    ['/admin%00', undefined],
    ['/bad%zz', undefined],
    ['admin', undefined],
  ];
  for (const [raw, want] of cases) {
    it(`${raw} -> ${want ?? 'refused'}`, () => {
      const r = normalisePath(raw);
      assert.equal(r.path, want);
      if (want === undefined) assert.ok(r.reason);
    });
  }
});

describe('authorization decisions', () => {
  const base: AuthzRequest = {
    peerIdentity: 'spiffe://cluster.local/ns/default/sa/productpage',
    sourceIp: '10.0.0.5',
    host: 'reviews:9080',
    port: 9080,
    method: 'GET',
    path: '/reviews/1',
    headers: {},
  };
  const empty: InboundConfig['authorization'] = { deny: [], allow: [], audit: [] };
  const allowProductpage = { name: 'default/viewer', rules: [{ from: [{ principals: ['cluster.local/ns/default/sa/productpage'] }], to: [{ methods: ['GET'], paths: ['/reviews/*'] }], when: [] }] };

  it('allows everything when no policy applies', () => {
    assert.equal(authorize(empty, base).allowed, true);
  });

  it('allows only what an ALLOW rule matches', () => {
    const authz = { ...empty, allow: [allowProductpage] };
    assert.equal(authorize(authz, base).allowed, true);
    assert.equal(authorize(authz, { ...base, method: 'DELETE' }).allowed, false);
    assert.equal(authorize(authz, { ...base, peerIdentity: 'spiffe://cluster.local/ns/default/sa/ratings' }).allowed, false);
    assert.equal(authorize(authz, { ...base, peerIdentity: undefined }).allowed, false, 'plaintext callers have no principal');
  });

  it('denies all with an empty ALLOW policy, as Istio does', () => {
    assert.equal(authorize({ ...empty, allow: [{ name: 'default/allow-nothing', rules: [] }] }, base).allowed, false);
  });

  it('lets DENY win over ALLOW', () => {
    const deny = { name: 'istio-system/no-admin', rules: [{ from: [], to: [{ paths: ['/reviews/1'] }], when: [] }] };
    const d = authorize({ ...empty, allow: [allowProductpage], deny: [deny] }, base);
    assert.deepEqual([d.allowed, d.policy], [false, 'istio-system/no-admin']);
  });

  it('evaluates namespaces, ip blocks, headers and claims conditions', () => {
    const rule = (r: object) => ({ ...empty, allow: [{ name: 'p', rules: [{ from: [], to: [], when: [], ...r }] }] });
    assert.equal(authorize(rule({ from: [{ namespaces: ['default'] }] }), base).allowed, true);
    assert.equal(authorize(rule({ from: [{ namespaces: ['prod'] }] }), base).allowed, false);
    assert.equal(authorize(rule({ from: [{ ipBlocks: ['10.0.0.0/24'] }] }), base).allowed, true);
    assert.equal(authorize(rule({ from: [{ ipBlocks: ['10.0.1.0/24'] }] }), base).allowed, false);
    assert.equal(authorize(rule({ when: [{ key: 'request.headers[x-tier]', values: ['gold'] }] }), { ...base, headers: { 'x-tier': 'gold' } }).allowed, true);
    assert.equal(authorize(rule({ when: [{ key: 'request.headers[x-tier]', values: ['gold'] }] }), base).allowed, false);
    assert.equal(authorize(rule({ when: [{ key: 'request.auth.claims[groups]', values: ['admins'] }] }), { ...base, claims: { groups: ['users', 'admins'] } }).allowed, true);
    assert.equal(authorize(rule({ to: [{ notPaths: ['/reviews/*'] }] }), base).allowed, false);
  });

  it("applies Istio's TCP semantics to connections carried as bytes: HTTP-only fields void ALLOW rules and widen DENY rules", () => {
    const tcp: AuthzRequest = { ...base, tcp: true, method: '', path: '', host: '' };
    const denyAdmin = { name: 'no-admin', rules: [{ from: [], to: [{ paths: ['/admin*'] }], when: [] }] };
    assert.equal(authorize({ ...empty, deny: [denyAdmin] }, { ...base, path: '/reviews/1' }).allowed, true, 'HTTP: only /admin is denied');
    assert.equal(authorize({ ...empty, deny: [denyAdmin] }, tcp).allowed, false, 'TCP: the path cannot be seen, so the whole connection is denied');
    const denyAdminFromRatings = {
      name: 'no-admin-from-ratings',
      rules: [{ from: [{ principals: ['cluster.local/ns/default/sa/ratings'] }], to: [{ methods: ['POST'] }], when: [{ key: 'request.headers[x-admin]', values: ['1'] }] }],
    };
    assert.equal(authorize({ ...empty, deny: [denyAdminFromRatings] }, tcp).allowed, true, 'the TCP-valid fields still have to match: productpage is not ratings');
    assert.equal(authorize({ ...empty, allow: [allowProductpage] }, tcp).allowed, false, 'an ALLOW rule with methods and paths never matches TCP');
    const allowByPrincipal = { name: 'by-principal', rules: [{ from: [{ principals: ['cluster.local/ns/default/sa/productpage'] }], to: [{ ports: [9080] }], when: [] }] };
    assert.equal(authorize({ ...empty, allow: [allowByPrincipal] }, tcp).allowed, true, 'principals and ports apply to TCP');
  });

  it('marks AUDIT matches without changing the decision', () => {
    const d = authorize({ ...empty, audit: [{ name: 'a', rules: [{ from: [], to: [], when: [] }] }] }, base);
    assert.deepEqual([d.allowed, d.audited], [true, true]);
  });
});
