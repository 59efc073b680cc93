// The outbound route filters on their own, and the chain a route builds: only the filters it
// needs, and relayed on the HTTP/1.1 relay only when every filter says it can be.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { CompiledHttpRoute, OutboundService } from '../../core/snapshot/types.js';
import { runFilters } from '../../proxy/pipeline/filter.js';
import { buildRouteChain } from '../../proxy/pipeline/outbound-chain.js';
import { faultAbort, faultDelay, mirror, redirect, requestId, type OutboundExchange } from '../../proxy/pipeline/outbound/route-filters.js';

const toReviews = { type: 'route' as const, destinations: [{ cluster: 'outbound||reviews.default', weight: 100 }] };
const route = (extra: Partial<CompiledHttpRoute> = {}): CompiledHttpRoute => ({ name: 'default/reviews/0', match: [], action: toReviews, ...extra });

function exchange(r: CompiledHttpRoute, random = 0.5, headers: Record<string, string> = {}): OutboundExchange {
  return {
    method: 'GET',
    target: '/a?b=1',
    headers: { host: 'reviews', ...headers },
    authority: 'reviews:9080',
    service: { name: 'reviews' } as OutboundService,
    route: r,
    pathname: '/a',
    search: '?b=1',
    random: () => random,
    responseHooks: [],
  };
}

describe('outbound route filters', () => {
  it('gives a request an id unless it has one', () => {
    const x = exchange(route());
    requestId.onRequest(x);
    assert.match(String(x.headers['x-request-id']), /^[0-9a-f-]{36}$/);
    const kept = exchange(route(), 0.5, { 'x-request-id': 'mine' });
    requestId.onRequest(kept);
    assert.equal(kept.headers['x-request-id'], 'mine');
  });

  it('aborts by percentage with the configured status (FI)', () => {
    const f = faultAbort({ percent: 50, status: 418 });
    assert.deepEqual(f.onRequest(exchange(route(), 0.1)), { status: 418, flags: 'FI', body: 'fault filter abort\n' });
    assert.equal(f.onRequest(exchange(route(), 0.9)), undefined);
  });

  it('delays by percentage, asynchronously, and then lets the request go on', async () => {
    const f = faultDelay({ percent: 50, delayMs: 20 });
    const out = f.onRequest(exchange(route(), 0.1));
    assert.ok(out instanceof Promise);
    assert.equal(await out, undefined);
    assert.equal(f.onRequest(exchange(route(), 0.9)), undefined, 'not delayed: synchronous');
  });

  it('redirects with a Location built from the request (DR)', () => {
    assert.deepEqual(redirect({ code: 301, authority: 'new.example', uri: '/moved' }).onRequest(exchange(route())), {
      status: 301,
      flags: 'DR',
      body: '',
      headers: { location: 'http://new.example/moved' },
    });
    assert.equal((redirect({ code: 302, scheme: 'https' }).onRequest(exchange(route())) as { headers: Record<string, string> }).headers.location, 'https://reviews/a?b=1');
  });

  it('decides the mirror; the codec sends the copy', () => {
    const x = exchange(route(), 0.1);
    mirror({ cluster: 'outbound|v3|reviews.default', percent: 20 }).onRequest(x);
    mirror({ cluster: 'outbound|v2|reviews.default', percent: 5 }).onRequest(x);
    mirror({ cluster: 'outbound||ratings.default', percent: 100 }).onRequest(x);
    assert.deepEqual(x.mirrorClusters, ['outbound|v3|reviews.default', 'outbound||ratings.default'], 'each mirror decided on its own (random 0.1: 20 % and 100 % yes, 5 % no)');
  });
});

describe('route chains', () => {
  const names = (r: CompiledHttpRoute) => buildRouteChain(r, undefined).filters.map((f) => f.name);

  it('hold only what the route needs', () => {
    assert.deepEqual(names(route()), ['request-id']);
    assert.deepEqual(names(route({ fault: { abort: { status: 503, percent: 10 }, delay: { delayMs: 5, percent: 10 } }, mirror: { cluster: 'c', percent: 5 } })), [
      'request-id',
      'fault-abort',
      'fault-delay',
      'mirror',
    ]);
    assert.deepEqual(names(route({ action: { type: 'direct', status: 204 } })), ['request-id', 'direct-response']);
  });

  it('are relayed only when every filter can be (an allow-list)', () => {
    assert.equal(buildRouteChain(route({ fault: { abort: { status: 503, percent: 10 } } }), undefined).relayable, true);
    assert.equal(buildRouteChain(route({ action: { type: 'redirect', code: 301, uri: '/x' } }), undefined).relayable, true);
    assert.equal(buildRouteChain(route({ mirror: { cluster: 'c', percent: 5 } }), undefined).relayable, false);
  });

  it('answer with the first filter that answers', async () => {
    const chain = buildRouteChain(route({ action: { type: 'direct', status: 204, body: 'none' } }), undefined);
    assert.deepEqual(await runFilters(chain.filters, exchange(route())), { status: 204, flags: 'DR', body: 'none' });
  });
});
