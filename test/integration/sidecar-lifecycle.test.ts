// A sidecar's life while traffic flows: its certificate is renewed (new handshakes get the new
// one, an open connection keeps its own), a new snapshot takes effect without touching a request
// in flight, the admin drain stops new connections, and SIGTERM lets the request in flight finish
// before the process exits. Real sidecars, a real controller, real TLS; the last one is a
// `mesh-proxy` process, signalled as systemd or Docker would.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { createServer, request as httpRequest, type Server } from 'node:http';
import { Agent, request as httpsRequest } from 'node:https';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { Sidecar, type SidecarOptions } from '../../proxy/sidecar.js';
import { startController, type TestController } from '../helpers/controller.js';
import { freePort, waitFor } from '../helpers/ports.js';
import { sidecarOptions } from '../helpers/sidecar.js';

const silent = pino({ level: process.env.MESH_TEST_LOG ?? 'silent' });
const root = new URL('../../../', import.meta.url).pathname;

/** An application that answers `/slow?ms=N` after N ms, and anything else at once. */
async function slowApp(): Promise<{ server: Server; port: number }> {
  const server = createServer((req, res) => {
    const ms = Number(/[?&]ms=(\d+)/.exec(req.url ?? '')?.[1] ?? 0);
    setTimeout(() => res.end(JSON.stringify({ path: req.url, xfcc: req.headers['x-forwarded-client-cert'] ?? null })), ms);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, port: (server.address() as { port: number }).port };
}

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function get(port: number, path: string, host: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, headers: { host } }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

const serialOf = (hex: string) => hex.replace(/:/g, '').replace(/^0+/, '').toUpperCase();

describe('sidecar lifecycle under traffic', () => {
  let c: TestController;
  let app: { server: Server; port: number };
  let api: Sidecar;
  let web: Sidecar;
  const sidecars: Sidecar[] = [];

  const start = async (service: string, appPort: number, extra: Partial<SidecarOptions> = {}) => {
    const token = (await c.call('POST', '/v1/tokens', { service })).json().token;
    const s = new Sidecar(sidecarOptions(c, service, appPort, { bootstrapToken: token, drainTimeoutMs: 3000, ...extra }), silent);
    await s.start();
    sidecars.push(s);
    return s;
  };
  const certs = async (s: Sidecar) => (await (await fetch(`http://127.0.0.1:${s.ports.admin}/certs`)).json()) as { serial: string; notAfter: string };

  before(async () => {
    // The shortest lifetime the controller allows; the api sidecar renews after a tenth of what
    // is left of it (6 s), again and again.
    c = await startController({ leafTtl: '1m' });
    app = await slowApp();
    api = await start('api', app.port, { certRenewAt: 0.1 });
    await c.call('POST', '/v1/catalog/instances', { id: 'api-1', service: 'api', address: '127.0.0.1', port: app.port, protocol: 'http', sidecar: { inboundPort: api.ports.inbound } });
    web = await start('web', 1, { upstreams: [{ port: 0, service: 'api' }] });
    await waitFor('web to learn the api endpoint', () => web.snapshot?.outbound.services.find((s) => s.name === 'api')?.clusters[0].endpoints.length === 1, 5000);
  });

  after(async () => {
    for (const s of sidecars) await s.close();
    app.server.close();
    await c?.close();
  });

  it('renews its certificate early: new handshakes get the new one, an open connection keeps its own', async () => {
    const id = web.identity!;
    const agent = new Agent({ keepAlive: true, maxSockets: 1, cert: id.certPem, key: id.keyPem, ca: id.trustBundle, checkServerIdentity: () => undefined });
    const call = () =>
      new Promise<{ status: number; socket: TLSSocket }>((resolve, reject) => {
        const req = httpsRequest({ host: '127.0.0.1', port: api.ports.inbound, path: '/', agent, headers: { host: 'api' } }, (res) => {
          const socket = res.socket as TLSSocket;
          res.resume();
          res.on('end', () => resolve({ status: res.statusCode ?? 0, socket }));
        });
        req.on('error', reject);
        req.end();
      });
    try {
      // What the admin endpoint shows right before and after a handshake is what it got.
      const current = async <T>(handshake: () => Promise<T>, serial: (t: T) => string) => {
        const before = serialOf((await certs(api)).serial);
        const t = await handshake();
        const after = serialOf((await certs(api)).serial);
        assert.ok([before, after].includes(serial(t)), `served ${serial(t)}, the sidecar had ${before} then ${after}`);
        return t;
      };
      const opened = await current(call, (o) => serialOf(o.socket.getPeerCertificate().serialNumber));
      assert.equal(opened.status, 200);
      const openedWith = serialOf(opened.socket.getPeerCertificate().serialNumber);
      await waitFor('the api sidecar to renew its certificate', async () => serialOf((await certs(api)).serial) !== openedWith, 15_000);
      // The connection opened before the renewal carries on, with the certificate it was opened with.
      const again = await call();
      assert.equal(again.status, 200);
      assert.equal(again.socket, opened.socket, 'the same kept-alive connection');
      assert.equal(serialOf(again.socket.getPeerCertificate().serialNumber), openedWith);
      // A new handshake gets the renewed certificate.
      agent.destroy();
      const handshake = () =>
        new Promise<string>((resolve, reject) => {
          const req = httpsRequest(
            { host: '127.0.0.1', port: api.ports.inbound, path: '/', cert: id.certPem, key: id.keyPem, ca: id.trustBundle, checkServerIdentity: () => undefined, headers: { host: 'api' } },
            (res) => {
              res.resume();
              resolve(serialOf((res.socket as TLSSocket).getPeerCertificate().serialNumber));
            },
          );
          req.on('error', reject);
          req.end();
        });
      const fresh = await current(handshake, (serial) => serial);
      assert.notEqual(fresh, openedWith);
      // Renewal is paced by the certificate's lifetime, not repeated at once (the CA backdates
      // notBefore by a minute, which a schedule from notBefore would take for elapsed time).
      const seen = new Set<string>();
      for (let i = 0; i < 15; i++) {
        seen.add((await certs(api)).serial);
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.ok(seen.size <= 2, `${seen.size} certificates in 1.5 s`);
      // And the mesh path goes on working: the client sidecar verifies the renewed certificate.
      const through = await get(web.ports.upstreams.api, '/after-renewal', 'api');
      assert.equal(through.status, 200);
      assert.match(JSON.parse(through.body).xfcc, /URI=spiffe:\/\/cluster\.local\/ns\/default\/sa\/web$/);
    } finally {
      agent.destroy();
    }
  });

  it('applies a new snapshot without touching a request in flight, which keeps the routes it started with', async () => {
    const inFlight = get(web.ports.upstreams.api, '/slow?ms=800', 'api');
    await new Promise((r) => setTimeout(r, 150));
    await c.call('POST', '/v1/apply', {
      apiVersion: 'networking.istio.io/v1',
      kind: 'VirtualService',
      metadata: { name: 'api', namespace: 'default' },
      spec: { hosts: ['api'], http: [{ route: [{ destination: { host: 'api' } }], headers: { response: { set: { 'x-route': 'new' } } } }] },
    });
    await waitFor('the new route at web', () => web.snapshot?.outbound.services.find((s) => s.name === 'api')?.httpRoutes[0]?.headers !== undefined, 5000);
    const old = await inFlight;
    assert.equal(old.status, 200, 'the request in flight finished');
    assert.equal(old.headers['x-route'], undefined, 'under the routes it started with');
    const next = await get(web.ports.upstreams.api, '/next', 'api');
    assert.equal(next.headers['x-route'], 'new', 'the next request takes the new route');
    await c.call('DELETE', '/v1/resources/vs/default/api');
  });

  it('drains on the admin command: not ready, no new connections, the request in flight finishes', async () => {
    const inFlight = get(api.ports.inbound, '/slow?ms=600', 'api');
    await new Promise((r) => setTimeout(r, 150));
    const drain = await fetch(`http://127.0.0.1:${api.ports.admin}/drain`, { method: 'POST' });
    assert.equal(drain.status, 200);
    assert.equal((await fetch(`http://127.0.0.1:${api.ports.admin}/ready`)).status, 503, 'no longer ready: load balancers stop sending');
    const refused = await new Promise<string>((resolve) => {
      const s = connect(api.ports.inbound, '127.0.0.1');
      s.on('connect', () => resolve('connected'));
      s.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
    });
    assert.equal(refused, 'ECONNREFUSED');
    assert.equal((await inFlight).status, 200);
  });

  it('on SIGTERM lets the request in flight finish, refuses new connections, logs it, and exits', async () => {
    const token = (await c.call('POST', '/v1/tokens', { service: 'batch' })).json().token;
    const [inbound, admin] = [await freePort(), await freePort()];
    const child = spawn(
      process.execPath,
      [
        join(root, 'dist/proxy/main.js'),
        '--controller',
        c.url,
        '--bootstrap-token',
        token,
        '--service',
        'batch',
        '--proxy-id',
        'batch-1',
        '--data-dir',
        mkdtempSync(join(tmpdir(), 'mesh-life-batch-')),
        '--app-port',
        String(app.port),
        '--bind',
        '127.0.0.1',
        '--inbound-port',
        String(inbound),
        '--outbound-port',
        '-1',
        '--admin-port',
        String(admin),
        '--status-port',
        '-1',
        '--drain-timeout',
        '10s',
        '--log-level',
        'info',
      ],
      { env: { ...process.env, MESH_PROXY_CA_PEM: c.ca() }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    // The access log (Istio's JSON format) goes to stdout; the sidecar's own JSON log to stderr.
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d));
    child.stderr.on('data', (d: Buffer) => (err += d));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      await waitFor('the batch sidecar to be ready', async () => (await fetch(`http://127.0.0.1:${admin}/ready`).catch(() => undefined))?.status === 200, 15_000);
      let answered = false;
      const inFlight = get(inbound, '/slow?ms=2000', 'batch').finally(() => (answered = true));
      await new Promise((r) => setTimeout(r, 200));
      const signalled = Date.now();
      child.kill('SIGTERM');
      const attempt = () =>
        new Promise<string>((resolve) => {
          const s = connect(inbound, '127.0.0.1');
          s.on('connect', () => {
            s.destroy();
            resolve('connected');
          });
          s.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
        });
      await waitFor('new connections to be refused', async () => (await attempt()) === 'ECONNREFUSED', 1500);
      assert.equal(answered, false, 'refused while the request was still in flight');
      const answer = await inFlight;
      assert.equal(answer.status, 200, 'the request in flight was answered');
      assert.equal(await exited, 0);
      assert.ok(Date.now() - signalled < 10_000, 'exited once nothing was in flight, before the drain deadline');
      const lines = out
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      const access = lines.find((l) => l.path === '/slow?ms=2000');
      assert.ok(access, `an access-log line for the request: ${out}`);
      assert.equal(access.response_code, 200);
      assert.equal(access.method, 'GET');
      assert.match(String(access.upstream_cluster), /^inbound\|\d+\|\|$/);
      assert.ok(Number(access.duration) >= 1900, `the request's duration in ms: ${String(access.duration)}`);
      assert.match(err, /"msg":"sidecar started"/, 'the sidecar log is on stderr');
    } finally {
      child.kill('SIGKILL');
    }
  });
});
