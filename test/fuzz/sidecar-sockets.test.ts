// The socket-level fuzzer: valid HTTP/1.1 and HTTP/2 traffic, mutated, sent through a real
// sidecar pair (mesh-proxy processes, mTLS between them) and straight at the server sidecar's
// PERMISSIVE inbound port, as anyone on the network could. After every case: both sidecar
// processes are alive, and the application has received no request that the policy denies
// (paths under /admin, as the application itself reads them). Runs for FUZZ_SECONDS (default 8);
// a failure prints its seed (FUZZ_SEED replays it).
import assert from 'node:assert/strict';
import { createServer as createHttpServer, type Server } from 'node:http';
import { connect as h2connect } from 'node:http2';
import { connect, createServer as createNetServer, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { startController, type TestController } from '../helpers/controller.js';
import { readAsAdmin } from '../helpers/app-view.js';
import { waitFor } from '../helpers/ports.js';
import { startProxyProcess, type ProxyProcess } from '../helpers/proxy-process.js';
import { fuzzParameters, fuzzSeconds } from './fuzz-options.js';

/** Bytes Node's HTTP/2 client writes for a few requests: the seeds of the HTTP/2 mutations. */
async function recordH2ClientBytes(): Promise<Buffer> {
  const chunks: Buffer[] = [];
  const server = createNetServer((s) => s.on('data', (d: Buffer) => chunks.push(d)));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const session = h2connect(`http://127.0.0.1:${(server.address() as { port: number }).port}`);
  session.on('error', () => undefined);
  const get = session.request({ ':path': '/public', ':authority': 'backend', 'x-a': '1' });
  get.on('error', () => undefined);
  const post = session.request({ ':method': 'POST', ':path': '/public/form', ':authority': 'backend', 'content-length': '5' });
  post.on('error', () => undefined);
  post.end('hello');
  await new Promise((r) => setTimeout(r, 150));
  session.destroy();
  await new Promise((r) => server.close(r));
  return Buffer.concat(chunks);
}

const HTTP1_SEEDS = [
  'GET /public HTTP/1.1\r\nHost: backend\r\n\r\n',
  'POST /public HTTP/1.1\r\nHost: backend\r\nContent-Length: 5\r\n\r\nhello',
  'POST /public HTTP/1.1\r\nHost: backend\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n',
  'GET /public HTTP/1.1\r\nHost: backend\r\n\r\nGET /public/2 HTTP/1.1\r\nHost: backend\r\n\r\n',
  'GET /public HTTP/1.1\r\nHost: backend\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\nGET /public/after HTTP/1.1\r\nHost: backend\r\n\r\n',
  'GET /admin HTTP/1.1\r\nHost: backend\r\n\r\n',
];
const DICTIONARY = [
  '\r\n',
  '\n',
  '\r',
  ' ',
  '\t',
  '/admin',
  '/%61dmin',
  '/./admin',
  '/../admin',
  '//admin',
  '%2e%2e/',
  'Content-Length: 0\r\n',
  'Content-Length: 7\r\n',
  'Transfer-Encoding: chunked\r\n',
  'Transfer-Encoding: xchunked\r\n',
  'Connection: Upgrade\r\nUpgrade: h2c\r\n',
  '0\r\n\r\n',
  'Expect: 100-continue\r\n',
  'GET /admin HTTP/1.1\r\nHost: backend\r\n\r\n',
  'x-jwt-payload: e30\r\n',
  '\x00',
  'HTTP/1.0',
];

type Mutation =
  { kind: 'flip'; at: number; byte: number } | { kind: 'insert'; at: number; text: string } | { kind: 'delete'; at: number; length: number } | { kind: 'repeat'; at: number; length: number };
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), text: fc.constantFrom(...DICTIONARY) }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 8 }) }),
  fc.record({ kind: fc.constant('repeat' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 40 }) }),
);
function applyMutations(seed: Buffer, ms: Mutation[]): Buffer {
  let b = Buffer.from(seed);
  for (const m of ms) {
    const at = b.length === 0 ? 0 : m.at % b.length;
    if (m.kind === 'flip') b[at] = m.byte;
    else if (m.kind === 'insert') b = Buffer.concat([b.subarray(0, at), Buffer.from(m.text, 'latin1'), b.subarray(at)]);
    else if (m.kind === 'delete') b = Buffer.concat([b.subarray(0, at), b.subarray(at + m.length)]);
    else b = Buffer.concat([b.subarray(0, at + m.length), b.subarray(at, at + m.length), b.subarray(at + m.length)]);
  }
  return b;
}

/** Sends bytes in pieces, reads whatever comes back for a short while, then hangs up. */
function send(port: number, bytes: Buffer, cuts: number[], linger: number): Promise<void> {
  return new Promise((resolve) => {
    const socket: Socket = connect({ host: '127.0.0.1', port });
    const done = () => {
      socket.destroy();
      resolve();
    };
    socket.on('error', done);
    socket.on('close', done);
    socket.on('data', () => undefined);
    socket.once('connect', async () => {
      let from = 0;
      for (const cut of [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b).concat(bytes.length)) {
        if (socket.destroyed) break;
        socket.write(bytes.subarray(from, cut));
        from = cut;
        await new Promise((r) => setImmediate(r));
      }
      setTimeout(done, linger);
    });
  });
}

describe('socket-level fuzzing of a sidecar pair', () => {
  let c: TestController;
  let app: Server;
  const seen: string[] = [];
  let backend: ProxyProcess;
  let frontend: ProxyProcess;
  let h2Seed: Buffer;

  before(async () => {
    c = await startController();
    app = createHttpServer((req, res) => {
      seen.push(req.url ?? '');
      req.resume();
      req.on('end', () => res.end('ok'));
    });
    app.on('clientError', (_e, s) => s.destroy());
    await new Promise<void>((r) => app.listen(0, '127.0.0.1', r));
    const appPort = (app.address() as { port: number }).port;
    backend = await startProxyProcess(c, 'backend', appPort, { args: ['--headers-timeout', '2s', '--idle-timeout', '5s'] });
    await c.call('POST', '/v1/catalog/instances', {
      id: 'backend-1',
      service: 'backend',
      address: '127.0.0.1',
      port: appPort,
      protocol: 'http',
      labels: { version: 'v1' },
      sidecar: { inboundPort: backend.ports.inbound },
    });
    frontend = await startProxyProcess(c, 'frontend', 1, { upstreams: ['backend'], args: ['--headers-timeout', '2s', '--idle-timeout', '5s'] });
    await c.call('POST', '/v1/apply', {
      apiVersion: 'security.istio.io/v1',
      kind: 'AuthorizationPolicy',
      metadata: { name: 'no-admin', namespace: 'default' },
      spec: { selector: { matchLabels: { app: 'backend' } }, action: 'DENY', rules: [{ to: [{ operation: { paths: ['/admin', '/admin/*'] } }] }] },
    });
    await waitFor('the policy at the backend', async () => (await backend.configDump())?.inbound.authorization.deny.length > 0, 5000);
    await waitFor(
      'the frontend to learn the backend',
      async () => (await frontend.configDump())?.outbound.services.find((s: { name: string }) => s.name === 'backend')?.clusters[0].endpoints.length === 1,
      5000,
    );
    h2Seed = await recordH2ClientBytes();
  });

  after(async () => {
    await backend?.stop();
    await frontend?.stop();
    app?.closeAllConnections();
    await new Promise((r) => app?.close(r));
    await c?.close();
  });

  const check = (what: string) => {
    assert.ok(backend.alive(), `the backend sidecar exited after ${what}: ${backend.output().slice(-3000)}`);
    assert.ok(frontend.alive(), `the frontend sidecar exited after ${what}: ${frontend.output().slice(-3000)}`);
    const leaked = seen.filter(readAsAdmin);
    assert.deepEqual(leaked, [], `the application received denied requests after ${what}`);
  };

  it('mutated HTTP/1.1 and HTTP/2 never end a sidecar and never reach the application past the policy', async () => {
    const seconds = fuzzSeconds();
    const cases = fc.record({
      protocol: fc.constantFrom('http1', 'http1', 'h2'),
      seed: fc.nat({ max: HTTP1_SEEDS.length - 1 }),
      mutations: fc.array(mutation, { maxLength: 4 }),
      cuts: fc.array(fc.nat(), { maxLength: 3 }),
      side: fc.constantFrom('inbound', 'outbound'),
    });
    let sent = 0;
    await fc.assert(
      fc.asyncProperty(cases, async (k) => {
        const seedBytes = k.protocol === 'h2' ? h2Seed : Buffer.from(HTTP1_SEEDS[k.seed], 'latin1');
        const bytes = applyMutations(seedBytes, k.mutations);
        await send(k.side === 'inbound' ? backend.ports.inbound : frontend.ports.upstreams.backend, bytes, k.cuts, 60);
        sent++;
        check(`${k.protocol} to the ${k.side} side: ${JSON.stringify(bytes.toString('latin1'))}`);
      }),
      { ...fuzzParameters(1_000_000), interruptAfterTimeLimit: seconds * 1000, markInterruptAsFailure: false },
    );
    // The sidecars still serve, and the policy still holds, after all that.
    const ok = await fetch(`http://127.0.0.1:${frontend.ports.upstreams.backend}/public/final`, { headers: { host: 'backend' } });
    assert.equal(ok.status, 200);
    const no = await fetch(`http://127.0.0.1:${frontend.ports.upstreams.backend}/admin`, { headers: { host: 'backend' } });
    assert.equal(no.status, 403);
    check('the final requests');
    console.log(`# ${sent} mutated connections in ${seconds} s; the application saw ${seen.length} requests, none denied`);
    assert.ok(sent > 20, 'the fuzzer sent traffic');
  });
});
