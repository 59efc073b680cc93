// Ports registered without a protocol (as services registered in Consul by other tools are):
// the sidecars tell HTTP from other bytes by the first bytes of each connection, so that an
// HTTP service still gets L7 routing and identity headers and a binary protocol still gets
// through, over mTLS, with TCP metrics. Real sidecars, a real controller, real sockets.
import assert from 'node:assert/strict';
import { connect, createServer as createNetServer, type Server as NetServer } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { Sidecar } from '../../proxy/sidecar.js';
import { get, startApp, type TestApp } from '../helpers/apps.js';
import { startController, type TestController } from '../helpers/controller.js';
import { waitFor } from '../helpers/ports.js';
import { sidecarOptions } from '../helpers/sidecar.js';

const silent = pino({ level: process.env.MESH_TEST_LOG ?? 'silent' });

describe('protocol detection on ports that declare none', () => {
  let c: TestController;
  let api: TestApp;
  let echo: NetServer;
  const sidecars: Record<string, Sidecar> = {};

  before(async () => {
    c = await startController();
    api = await startApp('api');
    echo = createNetServer((s) => s.pipe(s));
    await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
    const echoPort = (echo.address() as { port: number }).port;
    const start = async (service: string, appPort: number, upstreams: { port: number; service: string }[]) => {
      const token = (await c.call('POST', '/v1/tokens', { service })).json().token;
      const s = new Sidecar(sidecarOptions(c, service, appPort, { bootstrapToken: token, upstreams }), silent);
      await s.start();
      sidecars[service] = s;
      return s;
    };
    for (const [service, port] of [
      ['api', api.port],
      ['cache', echoPort],
    ] as const) {
      const s = await start(service, port, []);
      // No `protocol`: the port says nothing about what it speaks.
      await c.call('POST', '/v1/catalog/instances', { id: `${service}-1`, service, address: '127.0.0.1', port, labels: { version: 'v1' }, sidecar: { inboundPort: s.ports.inbound } });
    }
    const web = await start('web', 1, [
      { port: 0, service: 'api' },
      { port: 0, service: 'cache' },
    ]);
    await waitFor('web to learn both services', () => ['api', 'cache'].every((n) => web.snapshot?.outbound.services.find((s) => s.name === n)?.clusters[0].endpoints.length === 1), 5000);
  });

  after(async () => {
    for (const s of Object.values(sidecars)) await s.close();
    await api.close();
    echo.close();
    await c?.close();
  });

  const talk = (port: number, bytes: Buffer) =>
    new Promise<Buffer>((resolve) => {
      const s = connect(port, '127.0.0.1', () => s.write(bytes));
      const got: Buffer[] = [];
      s.on('data', (d: Buffer) => {
        got.push(d);
        if (Buffer.concat(got).length >= bytes.length) s.end();
      });
      s.on('close', () => resolve(Buffer.concat(got)));
      s.on('error', () => resolve(Buffer.concat(got)));
    });

  it('routes HTTP at L7 when the first bytes are an HTTP request', async () => {
    const r = await get(sidecars.web.ports.upstreams.api, '/items/7', { host: 'api' });
    assert.equal(r.status, 200);
    assert.equal(r.json().path, '/items/7');
    assert.match(r.json().xfcc, /URI=spiffe:\/\/cluster\.local\/ns\/default\/sa\/web$/, 'an L7 hop: the server sidecar added the caller identity');
  });

  it('carries other bytes as TCP over mTLS, and counts them as TCP', async () => {
    const binary = Buffer.from([0x00, 0x01, 0x02, 0xff, 0x10, 0x20, 0x30, 0x40, 0x7f, 0x80]);
    const back = await talk(sidecars.web.ports.upstreams.cache, binary);
    assert.deepEqual(back, binary);
    const metrics = sidecars.cache.metricsText();
    assert.match(metrics, /istio_tcp_connections_opened_total\{reporter="destination",source_workload="web",[^}]*connection_security_policy="mutual_tls"[^}]*\} 1/);
  });

  it('detects at the server sidecar too, for plaintext callers under PERMISSIVE', async () => {
    const back = await talk(sidecars.cache.ports.inbound, Buffer.from('ping 1\r\n'));
    assert.equal(back.toString(), 'ping 1\r\n', 'lower-case words are not an HTTP method: TCP to the application');
    const http = await get(sidecars.api.ports.inbound, '/plain', { host: 'api' });
    assert.equal(http.json().path, '/plain', 'and an HTTP request is still HTTP');
  });
});
