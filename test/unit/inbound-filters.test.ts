// Each inbound filter on its own, with no sockets: what it lets through, what it answers, what
// it changes in the request; and the chain a snapshot builds (only the filters it needs).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ProxySnapshot } from '../../core/snapshot/types.js';
import { runFilters, type Exchange, type RequestFilter } from '../../proxy/pipeline/filter.js';
import { buildInboundChain } from '../../proxy/pipeline/inbound-chain.js';
import { authorization } from '../../proxy/pipeline/inbound/authorization.js';
import { clientCertHeader } from '../../proxy/pipeline/inbound/client-cert-header.js';
import { stripIdentityHeaders } from '../../proxy/pipeline/inbound/identity-headers.js';
import { jwtAuthentication } from '../../proxy/pipeline/inbound/jwt.js';
import { pathNormalisation } from '../../proxy/pipeline/inbound/path-normalisation.js';
import { localRateLimit } from '../../proxy/pipeline/inbound/rate-limit.js';
import { strictMtls } from '../../proxy/pipeline/inbound/strict-mtls.js';
import { RuntimeConfig } from '../../proxy/runtime-config.js';
import { testIssuer } from '../helpers/jwt.js';

const PEER = 'spiffe://cluster.local/ns/default/sa/productpage';

function exchange(target: string, headers: Record<string, string> = {}, peer?: string): Exchange {
  const h = { host: 'reviews', ...headers };
  return { method: 'GET', target, headers: h, sourceIp: '10.0.0.5', peer, forwardPath: target, forwardHeaders: { ...h }, details: {} };
}

function snapshot(inbound: Partial<ProxySnapshot['inbound']> = {}): ProxySnapshot {
  return {
    proxy: { id: 'reviews-1', service: 'reviews', namespace: 'default', identity: 'spiffe://cluster.local/ns/default/sa/reviews', labels: {} },
    inbound: { ports: [{ port: 9080, protocol: 'http', mtlsMode: 'PERMISSIVE' }], authorization: { deny: [], allow: [], audit: [] }, jwtRules: [], ...inbound },
    outbound: { services: [] },
  } as unknown as ProxySnapshot;
}

describe('inbound filters', () => {
  it('strict mTLS closes a plaintext request and lets an mTLS one through', () => {
    assert.equal(strictMtls().onRequest(exchange('/')), 'close');
    assert.equal(strictMtls().onRequest(exchange('/', {}, PEER)), undefined);
  });

  it('path normalisation forwards the normalised path, query kept, and refuses what cannot be normalised', () => {
    const x = exchange('/public/%2e%2e//admin?q=1');
    assert.equal(pathNormalisation.onRequest(x), undefined);
    assert.equal(x.forwardPath, '/admin?q=1');
    assert.deepEqual(pathNormalisation.onRequest(exchange('/a%2fb')), {
      status: 400,
      flags: 'DPE',
      body: 'bad request path: an encoded slash, backslash or NUL (%2F, %5C, %00) is not allowed in a request path\n',
    });
  });

  it('identity headers are removed, whatever the caller sent', () => {
    const x = exchange('/', { 'x-forwarded-client-cert': 'forged', 'x-jwt-payload': 'forged', 'x-other': 'kept' });
    stripIdentityHeaders(['x-forwarded-client-cert', 'x-jwt-payload']).onRequest(x);
    assert.deepEqual(Object.keys(x.forwardHeaders).sort(), ['host', 'x-other']);
  });

  it('JWT: a verified token gives a principal and the payload header, and is not forwarded; a bad one is 401; none passes', () => {
    const issuer = testIssuer('ES256');
    const rules = [
      {
        issuer: 'https://issuer.test',
        audiences: [],
        fromHeaders: [{ name: 'authorization', prefix: 'Bearer ' }],
        fromParams: [],
        forwardOriginalToken: false,
        outputPayloadToHeader: 'X-JWT-Payload',
      },
    ] as never;
    const filter = jwtAuthentication(rules, () => JSON.parse(issuer.jwks).keys);
    const x = exchange('/', { authorization: `Bearer ${issuer.token({ iss: 'https://issuer.test', sub: 'alice' })}` });
    assert.equal(filter.onRequest(x), undefined);
    assert.equal(x.requestPrincipal, 'https://issuer.test/alice');
    assert.equal(x.forwardHeaders.authorization, undefined);
    assert.equal(JSON.parse(Buffer.from(String(x.forwardHeaders['x-jwt-payload']), 'base64url').toString()).sub, 'alice');
    assert.deepEqual(filter.onRequest(exchange('/', { authorization: 'Bearer a.b.c' })), { status: 401, flags: '-', body: 'Jwt header or payload is not valid base64url JSON\n' });
    assert.equal(filter.onRequest(exchange('/')), undefined);
  });

  it('authorization answers 403 RBAC naming the policy, on the normalised path', () => {
    const filter = authorization({ deny: [{ name: 'default/no-admin', rules: [{ from: [], to: [{ paths: ['/admin'] }], when: [] }] }], allow: [], audit: [] } as never, 9080);
    const x = exchange('//public/../admin?x=1');
    pathNormalisation.onRequest(x);
    assert.deepEqual(filter.onRequest(x), { status: 403, flags: 'RBAC', body: 'RBAC: access denied\n', details: { policy: 'default/no-admin' } });
    assert.equal(filter.onRequest(exchange('/public')), undefined);
  });

  it('the local rate limit answers 429 RL once the bucket is empty', () => {
    const cfg = new RuntimeConfig(snapshot({ rateLimit: { policy: 'default/limit', maxTokens: 1, tokensPerFill: 1, fillIntervalMs: 60_000 } }));
    const filter = localRateLimit(cfg, 9080);
    assert.equal(filter.onRequest(exchange('/')), undefined);
    assert.deepEqual(filter.onRequest(exchange('/')), { status: 429, flags: 'RL', body: 'local_rate_limited\n', details: { policy: 'default/limit' } });
  });

  it('the client-certificate header names the verified caller, and only for mTLS', () => {
    const mtls = exchange('/', {}, PEER);
    clientCertHeader('spiffe://cluster.local/ns/default/sa/reviews').onRequest(mtls);
    assert.equal(mtls.forwardHeaders['x-forwarded-client-cert'], `By=spiffe://cluster.local/ns/default/sa/reviews;URI=${PEER}`);
    const plain = exchange('/');
    clientCertHeader('spiffe://cluster.local/ns/default/sa/reviews').onRequest(plain);
    assert.equal(plain.forwardHeaders['x-forwarded-client-cert'], undefined);
  });
});

describe('the chain', () => {
  it('holds only the filters the snapshot needs', () => {
    const names = (inbound: Partial<ProxySnapshot['inbound']>) => buildInboundChain(new RuntimeConfig(snapshot(inbound)), { keys: () => undefined, appPort: 9080 }).map((f) => f.name);
    assert.deepEqual(names({}), ['path-normalisation', 'strip-identity-headers', 'client-cert-header']);
    assert.deepEqual(
      names({
        ports: [{ port: 9080, protocol: 'http', mtlsMode: 'STRICT' }],
        jwtRules: [{ issuer: 'x' }] as never,
        authorization: { deny: [{ name: 'd', rules: [] }], allow: [], audit: [] } as never,
        rateLimit: { policy: 'p', maxTokens: 1, tokensPerFill: 1, fillIntervalMs: 1000 },
      }),
      ['strict-mtls', 'path-normalisation', 'strip-identity-headers', 'jwt-authn', 'authorization', 'local-rate-limit', 'client-cert-header'],
    );
  });

  it('runs synchronously until a filter needs I/O, then goes on after it, and stops at the first answer', async () => {
    const seen: string[] = [];
    const f = (name: string, out?: 'close'): RequestFilter => ({ name, onRequest: () => (seen.push(name), out) });
    const later: RequestFilter = { name: 'async', onRequest: async () => (seen.push('async'), undefined) };
    assert.equal(runFilters([f('a'), f('b')], exchange('/')), undefined, 'no promise when no filter needs one');
    const pending = runFilters([f('c'), later, f('d', 'close'), f('e')], exchange('/'));
    assert.ok(pending instanceof Promise);
    assert.equal(await pending, 'close');
    assert.deepEqual(seen, ['a', 'b', 'c', 'async', 'd']);
  });
});
