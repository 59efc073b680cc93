// The key a consistent-hash load balancer hashes, read from the request (proxy/outbound-route.ts).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { hashKey, type RequestView } from '../../proxy/outbound-route.js';

const request = (headers: Record<string, string>): RequestView => ({ method: 'GET', url: '/p?user=u1', headers, socket: { remoteAddress: '10.0.0.7' } });

describe('consistent-hash keys', () => {
  it('reads the named cookie as the Cookie header is written', () => {
    const lb = { type: 'CONSISTENT_HASH', cookie: { name: 'user.session' } };
    assert.equal(hashKey(lb, request({ cookie: 'a=1; user.session=abc; b=2' })), 'abc');
    // The name is not a pattern: `.` is a dot, not any character.
    assert.equal(hashKey(lb, request({ cookie: 'userXsession=evil' })), undefined);
    assert.equal(hashKey(lb, request({})), undefined);
  });

  it('takes a header, the source address or a query parameter as configured', () => {
    assert.equal(hashKey({ type: 'CONSISTENT_HASH', header: 'x-user' }, request({ 'x-user': 'bob' })), 'bob');
    assert.equal(hashKey({ type: 'CONSISTENT_HASH', sourceIp: true }, request({})), '10.0.0.7');
    assert.equal(hashKey({ type: 'CONSISTENT_HASH', queryParam: 'user' }, request({})), 'u1');
    assert.equal(hashKey({ type: 'ROUND_ROBIN' }, request({ 'x-user': 'bob' })), undefined);
  });
});
