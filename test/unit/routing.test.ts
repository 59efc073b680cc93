import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { hostOfAuthority, pickWeighted, selectRoute, type RequestFacts } from '../../core/routing/match.js';
import type { CompiledHttpRoute } from '../../core/snapshot/types.js';
import { splitTarget } from '../../proxy/outbound-route.js';

const facts = (over: Partial<RequestFacts> = {}): RequestFacts => ({
  method: 'GET',
  path: '/reviews/1',
  query: new URLSearchParams(),
  headers: {},
  authority: 'reviews:9080',
  scheme: 'http',
  port: 9080,
  ...over,
});
const route = (name: string, match: CompiledHttpRoute['match']): CompiledHttpRoute => ({ name, match, action: { type: 'direct', status: 200 } });

describe('route selection', () => {
  const routes = [
    route('jason', [{ headers: { 'end-user': { exact: 'jason' } } }]),
    route('api', [{ uri: { prefix: '/api/' }, method: { exact: 'POST' } }, { uri: { regex: '/v[0-9]+/.*' } }]),
    route('query', [{ queryParams: { debug: { exact: '1' } } }]),
    route('nocookie', [{ withoutHeaders: { cookie: { regex: '.*' } }, uri: { exact: '/nocookie' } }]),
    route('default', []),
  ];
  it('takes the first route whose any-of matches hold', () => {
    assert.equal(selectRoute(routes, facts({ headers: { 'end-user': 'jason' } }))?.name, 'jason');
    assert.equal(selectRoute(routes, facts({ path: '/api/x', method: 'POST' }))?.name, 'api');
    assert.equal(selectRoute(routes, facts({ path: '/api/x', method: 'GET' }))?.name, 'default');
    assert.equal(selectRoute(routes, facts({ path: '/v2/items' }))?.name, 'api');
    assert.equal(selectRoute(routes, facts({ path: '/xv2/items' }))?.name, 'default', 'regexes match the whole value, as RE2 full match');
    assert.equal(selectRoute(routes, facts({ query: new URLSearchParams('debug=1') }))?.name, 'query');
    assert.equal(selectRoute(routes, facts({ path: '/nocookie' }))?.name, 'nocookie');
    assert.equal(selectRoute(routes, facts({ path: '/nocookie', headers: { cookie: 'a=b' } }))?.name, 'default');
  });

  it('reads the host of an authority as the snapshot lists hosts', () => {
    assert.equal(hostOfAuthority('Reviews.default.svc.cluster.local.:9080'), 'reviews.default.svc.cluster.local');
    assert.equal(hostOfAuthority('reviews'), 'reviews');
  });

  it('splits by weight', () => {
    const d = [
      { weight: 90, id: 'v1' },
      { weight: 10, id: 'v3' },
    ];
    assert.equal(pickWeighted(d, 0)?.id, 'v1');
    assert.equal(pickWeighted(d, 89.99)?.id, 'v1');
    assert.equal(pickWeighted(d, 90)?.id, 'v3');
    assert.equal(pickWeighted(d, 99.99)?.id, 'v3');
  });
});

describe('request targets', () => {
  it('keeps the path as sent and reads query parameters only when asked, as a route match does', () => {
    const t = splitTarget('//admin/x?debug=1&debug=2&q=a%20b');
    assert.equal(t.pathname, '//admin/x', 'no URL parsing: "//admin" is not a host');
    assert.equal(t.search, '?debug=1&debug=2&q=a%20b');
    const query = [{ name: 'query', match: [{ queryParams: { debug: { exact: '1' } } }], action: { type: 'direct', status: 200 } }] as CompiledHttpRoute[];
    assert.equal(selectRoute(query, { ...facts(), query: t })?.name, 'query');
    assert.equal(selectRoute(query, { ...facts(), query: splitTarget('/x?debug=2') }), undefined);
    assert.equal(selectRoute(query, { ...facts(), query: splitTarget('/x') }), undefined);
    assert.equal(t.get('q'), 'a b');
    assert.equal(splitTarget(undefined).pathname, '/');
  });
});
