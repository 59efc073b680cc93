// The drifts between codecs that the one pipeline removes, each checked on every codec that can
// carry the request: the HTTP/1.1 relay, Node's HTTP path, HTTP/2 and WebSocket upgrades. Every
// case names the codecs it skips and why.
import assert from 'node:assert/strict';
import { connect as h2connect } from 'node:http2';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { Sidecar } from '../../proxy/sidecar.js';
import { get, startApp, type TestApp } from '../helpers/apps.js';
import { startController, type TestController } from '../helpers/controller.js';
import { waitFor } from '../helpers/ports.js';
import { startSidecar } from '../helpers/sidecar.js';

type Codec = 'relay' | 'node' | 'h2' | 'upgrade';
const CODECS: Codec[] = ['relay', 'node', 'h2', 'upgrade'];

interface Answer {
  status: number;
  flags: string | undefined;
}

describe('one pipeline for every codec', () => {
  let c: TestController;
  let app: TestApp;
  let server: Sidecar;
  let client: Sidecar;
  let clientNode: Sidecar;

  before(async () => {
    c = await startController();
    app = await startApp('api');
    server = await startSidecar(c, 'api', app.port);
    await c.call('POST', '/v1/catalog/instances', {
      id: 'api-1',
      service: 'api',
      address: '127.0.0.1',
      port: app.port,
      protocol: 'http',
      labels: { version: 'v1' },
      sidecar: { inboundPort: server.ports.inbound },
    });
    await c.call('POST', '/v1/apply', {
      apiVersion: 'networking.istio.io/v1',
      kind: 'VirtualService',
      metadata: { name: 'api', namespace: 'default' },
      spec: {
        hosts: ['api'],
        http: [
          { match: [{ uri: { prefix: '/aborted' } }], fault: { abort: { httpStatus: 418, percentage: { value: 100 } } }, route: [{ destination: { host: 'api' } }] },
          { match: [{ uri: { prefix: '/nosubset' } }], route: [{ destination: { host: 'api', subset: 'v9' } }] },
          { route: [{ destination: { host: 'api' } }] },
        ],
      },
    });
    client = await startSidecar(c, 'web', 1, { proxyId: 'web-relay', upstreams: [{ port: 0, service: 'api' }] });
    clientNode = await startSidecar(c, 'web', 1, { proxyId: 'web-node', upstreams: [{ port: 0, service: 'api' }], http1Relay: false });
    for (const s of [client, clientNode]) await waitFor('the routes at the client', () => s.snapshot?.outbound.services.find((x) => x.name === 'api')?.httpRoutes.length === 3, 5000);
  });

  after(async () => {
    for (const s of [client, clientNode, server]) await s?.close();
    await app?.close();
    await c?.close();
  });

  /** One request through the client sidecar, carried by `codec`. */
  async function send(codec: Codec, path: string, port = client.ports.upstreams.api): Promise<Answer> {
    if (codec === 'relay' || codec === 'node') {
      const r = await get(codec === 'node' ? clientNode.ports.upstreams.api : port, path, { host: 'api' });
      return { status: r.status, flags: r.headers['x-mesh-response-flags'] as string | undefined };
    }
    if (codec === 'h2') {
      const session = h2connect(`http://127.0.0.1:${port}`);
      try {
        return await new Promise<Answer>((resolve, reject) => {
          const s = session.request({ ':authority': 'api', ':path': path });
          s.on('response', (h) => resolve({ status: Number(h[':status']), flags: h['x-mesh-response-flags'] as string | undefined }));
          s.on('error', reject);
          s.resume();
        });
      } finally {
        session.close();
      }
    }
    return upgrade(port, path);
  }

  function upgrade(port: number, path: string): Promise<Answer> {
    return new Promise((resolve) => {
      const s = connect(port, '127.0.0.1', () =>
        s.write(`GET ${path} HTTP/1.1\r\nHost: api\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`),
      );
      let got = '';
      s.on('data', (d: Buffer) => {
        got += d;
        if (got.includes('\r\n\r\n')) s.destroy();
      });
      s.on('close', () => resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(got)?.[1] ?? 0), flags: /x-mesh-response-flags: (\S+)/i.exec(got)?.[1] }));
      s.on('error', () => undefined);
    });
  }

  for (const codec of CODECS) {
    it(`${codec}: a fault abort is answered by the client sidecar with its status and FI`, async () => {
      assert.deepEqual(await send(codec, '/aborted'), { status: 418, flags: 'FI' });
    });

    it(`${codec}: a route to a subset no DestinationRule defines is 503 NC (no cluster), as in Envoy`, async () => {
      assert.deepEqual(await send(codec, '/nosubset'), { status: 503, flags: 'NC' });
    });

    it(`${codec}: an ordinary request reaches the application and is recorded at both sidecars`, async () => {
      const a = await send(codec, `/plain-${codec}`);
      assert.equal(a.status, codec === 'upgrade' ? 101 : 200);
      const code = codec === 'upgrade' ? '101' : '200';
      assert.match(server.metricsText(), new RegExp(`istio_requests_total\\{reporter="destination",source_workload="web",[^}]*response_code="${code}"`));
    });
  }

  it('upgrades: the inbound rate limit applies to them as to any request', async () => {
    await c.call('POST', '/v1/apply', {
      apiVersion: 'policy.hostmesh.io/v1alpha1',
      kind: 'LocalRateLimit',
      metadata: { name: 'api-limit', namespace: 'default' },
      spec: { selector: { matchLabels: { app: 'api' } }, tokenBucket: { maxTokens: 1, tokensPerFill: 1, fillInterval: '1h' } },
    });
    try {
      await waitFor('the limit at the server', () => server.snapshot?.inbound.rateLimit !== undefined, 5000);
      const first = await upgrade(server.ports.inbound, '/limited');
      const second = await upgrade(server.ports.inbound, '/limited');
      assert.equal(first.status, 101);
      assert.deepEqual(second, { status: 429, flags: 'RL' });
    } finally {
      await c.call('DELETE', '/v1/resources/localratelimit/default/api-limit');
    }
  });
});
