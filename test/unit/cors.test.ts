// The CORS filter on its own: preflights answered for allowed origins, headers added to the
// answers of ordinary requests, everything else left alone.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { CompiledHttpRoute, OutboundService } from '../../core/snapshot/types.js';
import type { HeaderMap } from '../../core/http1/header-ops.js';
import { cors } from '../../proxy/pipeline/outbound/cors.js';
import type { OutboundExchange } from '../../proxy/pipeline/outbound/route-filters.js';

const policy: NonNullable<CompiledHttpRoute['cors']> = {
  allowOrigins: [{ exact: 'https://shop.example.com' }, { regex: 'https://.*\\.dev\\.example\\.com' }],
  allowMethods: ['GET', 'POST'],
  allowHeaders: ['content-type'],
  exposeHeaders: ['x-total'],
  maxAgeSeconds: 86400,
  allowCredentials: true,
  forwardUnmatchedPreflights: true,
};

function exchange(method: string, headers: Record<string, string>): OutboundExchange {
  return {
    method,
    target: '/',
    headers,
    authority: 'api',
    service: { name: 'api' } as OutboundService,
    route: {} as CompiledHttpRoute,
    pathname: '/',
    search: '',
    random: Math.random,
    responseHooks: [],
  };
}
const preflight = (origin: string) => exchange('OPTIONS', { origin, 'access-control-request-method': 'POST' });

describe('CORS filter', () => {
  it('answers a preflight from an allowed origin with what the policy allows', () => {
    assert.deepEqual(cors(policy).onRequest(preflight('https://shop.example.com')), {
      status: 200,
      flags: 'DR',
      body: '',
      headers: {
        'access-control-allow-origin': 'https://shop.example.com',
        vary: 'origin',
        'access-control-allow-methods': 'GET,POST',
        'access-control-allow-headers': 'content-type',
        'access-control-max-age': '86400',
        'access-control-allow-credentials': 'true',
      },
    });
    assert.equal((cors(policy).onRequest(preflight('https://a.dev.example.com')) as { status: number }).status, 200, 'regex origins');
  });

  it('adds the CORS headers to the answer of an ordinary request from an allowed origin', () => {
    const x = exchange('GET', { origin: 'https://shop.example.com' });
    assert.equal(cors(policy).onRequest(x), undefined);
    const h: HeaderMap = { 'content-type': 'application/json' };
    for (const hook of x.responseHooks) hook(h);
    assert.deepEqual(h, {
      'content-type': 'application/json',
      'access-control-allow-origin': 'https://shop.example.com',
      vary: 'origin',
      'access-control-expose-headers': 'x-total',
      'access-control-allow-credentials': 'true',
    });
  });

  it('leaves requests without an Origin, or from other origins, alone; an unmatched preflight is forwarded unless IGNORE', () => {
    const plain = exchange('GET', {});
    assert.equal(cors(policy).onRequest(plain), undefined);
    assert.equal(plain.responseHooks.length, 0);
    const other = exchange('GET', { origin: 'https://evil.example' });
    assert.equal(cors(policy).onRequest(other), undefined);
    assert.equal(other.responseHooks.length, 0);
    assert.equal(cors(policy).onRequest(preflight('https://evil.example')), undefined, 'forwarded');
    assert.deepEqual(
      cors({ ...policy, forwardUnmatchedPreflights: false }).onRequest(preflight('https://evil.example')),
      { status: 200, flags: 'DR', body: '' },
      'IGNORE: answered without CORS headers',
    );
  });

  it('takes an exact "*" as any origin, echoing the origin', () => {
    const any = cors({ ...policy, allowOrigins: [{ exact: '*' }] });
    assert.equal((any.onRequest(preflight('https://whoever.example')) as { headers: Record<string, string> }).headers['access-control-allow-origin'], 'https://whoever.example');
  });
});
