// The mesh config reader and the external-authorization filter on their own (the authorizer is
// a function here; test/integration/ext-authz.test.ts runs a real one over sockets).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MeshError } from '../../core/errors.js';
import { readMeshConfig } from '../../core/mesh-config.js';
import type { CompiledCustomPolicy } from '../../core/snapshot/types.js';
import type { Exchange } from '../../proxy/pipeline/filter.js';
import { extAuthz, type ExtAuthzCall } from '../../proxy/pipeline/inbound/ext-authz.js';

const provider = readMeshConfig({
  extensionProviders: [
    {
      name: 'authz',
      envoyExtAuthzHttp: {
        service: 'ext-authz',
        port: 8000,
        pathPrefix: '/check',
        timeout: '2s',
        includeRequestHeadersInCheck: ['X-Ext-Authz'],
        includeAdditionalHeadersInCheck: { 'x-from': 'mesh' },
        headersToUpstreamOnAllow: ['x-user'],
        headersToDownstreamOnDeny: ['x-reason'],
      },
    },
  ],
}).extensionProviders[0];
const policy: CompiledCustomPolicy = { name: 'default/ext', providerName: 'authz', provider, rules: [{ from: [], to: [{ paths: ['/private/*'] }], when: [] }] } as never;

function exchange(path: string, headers: Record<string, string> = {}): Exchange {
  const h = { host: 'backend', ...headers };
  return { method: 'GET', target: path, headers: h, sourceIp: '10.0.0.1', peer: undefined, forwardPath: path, forwardHeaders: { ...h }, details: {} };
}

describe('mesh config', () => {
  it('reads an envoyExtAuthzHttp provider with Istio defaults', () => {
    assert.deepEqual(provider, {
      name: 'authz',
      service: 'ext-authz',
      port: 8000,
      pathPrefix: '/check',
      timeoutMs: 2000,
      failOpen: false,
      statusOnError: 403,
      includeRequestHeadersInCheck: ['x-ext-authz'],
      includeAdditionalHeadersInCheck: { 'x-from': 'mesh' },
      headersToUpstreamOnAllow: ['x-user'],
      headersToDownstreamOnDeny: ['x-reason'],
    });
  });

  it('names every problem', () => {
    try {
      readMeshConfig({
        accessLogFile: '/dev/stdout',
        extensionProviders: [
          { name: 'a', envoyExtAuthzGrpc: {} },
          { name: 'a', envoyExtAuthzHttp: { port: 99999, statusOnError: 'bad' } },
        ],
      });
      assert.fail('accepted');
    } catch (err) {
      assert.ok(err instanceof MeshError);
      assert.deepEqual((err.violations as { path: string }[]).map((v) => v.path).sort(), [
        'accessLogFile',
        'extensionProviders[0].envoyExtAuthzGrpc',
        'extensionProviders[0].envoyExtAuthzHttp',
        'extensionProviders[1].envoyExtAuthzHttp.port',
        'extensionProviders[1].envoyExtAuthzHttp.service',
        'extensionProviders[1].envoyExtAuthzHttp.statusOnError',
        'extensionProviders[1].name',
      ]);
    }
  });
});

describe('external authorization filter', () => {
  const answering = (status: number, headers: Record<string, string> = {}, body = ''): { call: ExtAuthzCall; sent: unknown[] } => {
    const sent: unknown[] = [];
    return { sent, call: async (_p, check) => (sent.push(check), { status, headers, body }) };
  };

  it('checks only requests its rules match, sending the path after the prefix and the headers asked for', async () => {
    const a = answering(200, { 'x-user': 'alice', 'x-other': 'no' });
    const filter = extAuthz([policy], a.call, 9080);
    assert.equal(filter.onRequest(exchange('/public')), undefined, 'not matched: synchronous, no check');
    const x = exchange('/private/a?q=1', { 'x-ext-authz': 'allow', authorization: 'Bearer t', cookie: 'secret', 'content-length': '5' });
    assert.equal(await filter.onRequest(x), undefined);
    assert.deepEqual(a.sent, [{ method: 'GET', path: '/check/private/a?q=1', headers: { host: 'backend', authorization: 'Bearer t', 'x-ext-authz': 'allow', 'x-from': 'mesh' } }]);
    assert.equal(x.forwardHeaders['x-user'], 'alice', 'headersToUpstreamOnAllow');
    assert.equal(x.forwardHeaders['x-other'], undefined);
  });

  it('relays a denial (status, body, headersToDownstreamOnDeny) with the UAEX flag', async () => {
    const filter = extAuthz([policy], answering(401, { 'x-reason': 'no token', 'x-other': 'no' }, 'go away').call, 9080);
    assert.deepEqual(await filter.onRequest(exchange('/private/a')), {
      status: 401,
      flags: 'UAEX',
      body: 'go away',
      headers: { 'x-reason': 'no token' },
      details: { policy: 'default/ext', provider: 'authz' },
    });
  });

  it('fails closed with statusOnError when the authorizer cannot be reached, or open when the provider says so', async () => {
    const broken: ExtAuthzCall = async () => {
      throw new Error('connect ECONNREFUSED');
    };
    assert.equal(((await extAuthz([policy], broken, 9080).onRequest(exchange('/private/a'))) as { status: number }).status, 403);
    assert.equal(await extAuthz([{ ...policy, provider: { ...provider, failOpen: true } }], broken, 9080).onRequest(exchange('/private/a')), undefined);
  });
});
