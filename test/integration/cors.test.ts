// VirtualService corsPolicy on every codec: the HTTP/1.1 relay, Node's HTTP path and HTTP/2.
// The feature is one route filter (proxy/pipeline/outbound/cors.ts); no codec knows of it.
import assert from 'node:assert/strict';
import { connect as h2connect, type IncomingHttpHeaders } from 'node:http2';
import { after, before, describe, it } from 'node:test';
import type { Sidecar } from '../../proxy/sidecar.js';
import { get, startApp, type TestApp } from '../helpers/apps.js';
import { startController, type TestController } from '../helpers/controller.js';
import { waitFor } from '../helpers/ports.js';
import { startSidecar } from '../helpers/sidecar.js';

describe('CORS on every codec', () => {
  let c: TestController;
  let app: TestApp;
  const sidecars: Sidecar[] = [];
  const clients: Record<'relay' | 'node', Sidecar> = {} as never;

  const start = async (service: string, appPort: number, upstreams: { port: number; service: string }[], http1Relay = true) => {
    const s = await startSidecar(c, service, appPort, { proxyId: `${service}-${sidecars.length}`, upstreams, http1Relay });
    sidecars.push(s);
    return s;
  };

  before(async () => {
    c = await startController();
    app = await startApp('api');
    const api = await start('api', app.port, []);
    await c.call('POST', '/v1/catalog/instances', { id: 'api-1', service: 'api', address: '127.0.0.1', port: app.port, protocol: 'http', sidecar: { inboundPort: api.ports.inbound } });
    await c.call('POST', '/v1/apply', {
      apiVersion: 'networking.istio.io/v1',
      kind: 'VirtualService',
      metadata: { name: 'api', namespace: 'default' },
      spec: {
        hosts: ['api'],
        http: [
          {
            route: [{ destination: { host: 'api' } }],
            corsPolicy: { allowOrigins: [{ exact: 'https://shop.example.com' }], allowMethods: ['GET', 'POST'], allowHeaders: ['content-type'], exposeHeaders: ['x-app'], maxAge: '1h' },
          },
        ],
      },
    });
    clients.relay = await start('web', 1, [{ port: 0, service: 'api' }]);
    clients.node = await start('web', 1, [{ port: 0, service: 'api' }], false);
    for (const s of Object.values(clients))
      await waitFor(
        'the CORS route at the client',
        () =>
          Boolean(s.snapshot?.outbound.services.find((x) => x.name === 'api')?.httpRoutes[0]?.cors) && s.snapshot?.outbound.services.find((x) => x.name === 'api')?.clusters[0].endpoints.length === 1,
        5000,
      );
  });

  after(async () => {
    for (const s of sidecars) await s.close();
    await app.close();
    await c.close();
  });

  for (const codec of ['relay', 'node'] as const) {
    it(`HTTP/1.1 (${codec === 'relay' ? 'the relay' : "Node's path"}): preflights answered by the sidecar, answers carry the CORS headers`, async () => {
      const port = clients[codec].ports.upstreams.api;
      const hitsBefore = app.hits;
      const pre = await get(port, '/items', { host: 'api', origin: 'https://shop.example.com', 'access-control-request-method': 'POST' }, 'OPTIONS');
      assert.equal(pre.status, 200);
      assert.equal(pre.headers['access-control-allow-origin'], 'https://shop.example.com');
      assert.equal(pre.headers['access-control-allow-methods'], 'GET,POST');
      assert.equal(pre.headers['access-control-max-age'], '3600');
      assert.equal(app.hits, hitsBefore, 'the preflight never reached the application');
      const real = await get(port, '/items', { host: 'api', origin: 'https://shop.example.com' });
      assert.equal(real.status, 200);
      assert.equal(real.headers['access-control-allow-origin'], 'https://shop.example.com');
      assert.equal(real.headers['access-control-expose-headers'], 'x-app');
      const other = await get(port, '/items', { host: 'api', origin: 'https://evil.example' });
      assert.equal(other.headers['access-control-allow-origin'], undefined, 'other origins get no CORS headers');
    });
  }

  it('HTTP/2: preflights answered by the sidecar, answers carry the CORS headers', async () => {
    const session = h2connect(`http://127.0.0.1:${clients.relay.ports.upstreams.api}`);
    const ask = (headers: Record<string, string>) =>
      new Promise<IncomingHttpHeaders>((resolve, reject) => {
        const s = session.request({ ':authority': 'api', ':path': '/items', ...headers });
        s.on('response', resolve);
        s.on('error', reject);
        s.resume();
        s.end();
      });
    try {
      const hitsBefore = app.hits;
      const pre = await ask({ ':method': 'OPTIONS', origin: 'https://shop.example.com', 'access-control-request-method': 'GET' });
      assert.equal(pre[':status'], 200);
      assert.equal(pre['access-control-allow-origin'], 'https://shop.example.com');
      assert.equal(app.hits, hitsBefore);
      const real = await ask({ ':method': 'GET', origin: 'https://shop.example.com' });
      assert.equal(real[':status'], 200);
      assert.equal(real['access-control-allow-origin'], 'https://shop.example.com');
      assert.equal(real['access-control-expose-headers'], 'x-app');
    } finally {
      session.close();
    }
  });
});
