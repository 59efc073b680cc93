// What the HTTP/1.1 byte relay must get right beyond what the shared sidecar suite checks:
// framing of every kind of answer, pipelining, handing a connection over to Node's parser in
// the middle of its life, kept-alive upstream connections, and answers that are not HTTP.
// Real sidecars with mTLS between them, a real controller, and an application whose bytes the
// test controls.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { Sidecar } from '../../proxy/sidecar.js';
import { get } from '../helpers/apps.js';
import { startController, type TestController } from '../helpers/controller.js';
import { waitFor } from '../helpers/ports.js';
import { sidecarOptions } from '../helpers/sidecar.js';

const silent = pino({ level: process.env.MESH_TEST_LOG ?? 'silent' });
const BIG = Buffer.alloc(2 * 1024 * 1024, 'abcdefghijklmnopqrstuvwxyz0123456789');

describe('HTTP/1.1 relay', () => {
  let c: TestController;
  let app: Server;
  let appConnections = 0;
  let junkWrittenAt = 0;
  let junkSocketClosedAfterMs = -1;
  const sidecars: Sidecar[] = [];
  let port = 0;

  before(async () => {
    c = await startController();
    app = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (d: Buffer) => chunks.push(d));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        if (req.url === '/chunked') {
          // No length: Node sends it chunked, in three pieces.
          res.writeHead(200, { 'content-type': 'text/plain', 'set-cookie': ['a=1', 'b=2'] });
          res.write('hello');
          setTimeout(() => res.write(' chunked'), 20);
          setTimeout(() => res.end(' world'), 40);
        } else if (req.url === '/big') {
          res.writeHead(200, { 'content-length': BIG.length });
          res.end(BIG);
        } else if (req.url === '/close') {
          req.socket.end('HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\nuntil the connection closes');
        } else if (req.url === '/then-junk') {
          // A clean answer, then bytes nobody asked for on the kept-alive connection.
          res.writeHead(200, { 'content-length': 2 });
          res.end('ok');
          const socket = req.socket;
          setTimeout(() => {
            socket.write('HTTP/1.1 200 OK\r\ncontent-length: 8\r\n\r\nsmuggled');
            junkWrittenAt = Date.now();
            socket.once('close', () => (junkSocketClosedAfterMs = Date.now() - junkWrittenAt));
          }, 50);
        } else if (req.url === '/bad') {
          req.socket.end('HTTP/1.1 200 OK\r\ncontent-length: 5\r\ncontent-length: 6\r\n\r\nhello!');
        } else {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(
            JSON.stringify({
              path: req.url,
              method: req.method,
              bodySha: createHash('sha256').update(body).digest('hex'),
              bodyLength: body.length,
              chunked: req.headers['transfer-encoding'] === 'chunked',
            }),
          );
        }
      });
    });
    app.on('connection', () => appConnections++);
    await new Promise<void>((r) => app.listen(0, '127.0.0.1', r));
    const appPort = (app.address() as { port: number }).port;
    const start = async (service: string, appPortOf: number, upstreams: { port: number; service: string }[]) => {
      const token = (await c.call('POST', '/v1/tokens', { service })).json().token;
      const s = new Sidecar(sidecarOptions(c, service, appPortOf, { bootstrapToken: token, upstreams }), silent);
      await s.start();
      sidecars.push(s);
      return s;
    };
    const shop = await start('shop', appPort, []);
    await c.call('POST', '/v1/catalog/instances', {
      id: 'shop-1',
      service: 'shop',
      address: '127.0.0.1',
      port: appPort,
      protocol: 'http',
      labels: { version: 'v1' },
      sidecar: { inboundPort: shop.ports.inbound },
    });
    await c.call('POST', '/v1/apply', { apiVersion: 'security.istio.io/v1', kind: 'PeerAuthentication', metadata: { name: 'default', namespace: 'istio-system' }, spec: { mtls: { mode: 'STRICT' } } });
    const web = await start('web', 1, [{ port: 0, service: 'shop' }]);
    port = web.ports.upstreams.shop;
    await waitFor('web to learn the shop endpoint', () => web.snapshot?.outbound.services.find((s) => s.name === 'shop')?.clusters[0].endpoints.length === 1, 5000);
    await waitFor('STRICT at the shop sidecar', () => shop.snapshot?.inbound.ports[0]?.mtlsMode === 'STRICT', 5000);
  });

  after(async () => {
    for (const s of sidecars) await s.close();
    await new Promise((r) => app.close(r));
    await c?.close();
  });

  /** Writes `text` on one connection and reads until `count` answers have come, or the connection closes. */
  function raw(text: string | string[], until: (out: string) => boolean): Promise<{ out: string; closed: boolean }> {
    return new Promise((resolve, reject) => {
      const s = connect(port, '127.0.0.1');
      const parts = Array.isArray(text) ? text : [text];
      let out = '';
      let done = false;
      const finish = (closed: boolean) => {
        if (done) return;
        done = true;
        s.destroy();
        resolve({ out, closed });
      };
      s.on('connect', async () => {
        for (const p of parts) {
          s.write(p);
          await new Promise((r) => setTimeout(r, 30));
        }
      });
      s.on('data', (d) => {
        out += d.toString('latin1');
        if (until(out)) finish(false);
      });
      s.on('close', () => finish(true));
      s.on('error', reject);
    });
  }

  it('relays a chunked answer, and a 2 MiB answer, byte for byte', async () => {
    const chunked = await get(port, '/chunked', { host: 'shop' });
    assert.equal(chunked.status, 200);
    assert.equal(chunked.body, 'hello chunked world');
    assert.deepEqual(chunked.headers['set-cookie'], ['a=1', 'b=2'], 'repeated headers stay repeated');
    const big = await new Promise<Buffer>((resolve, reject) => {
      const s = connect(port, '127.0.0.1', () => s.write('GET /big HTTP/1.1\r\nhost: shop\r\n\r\n'));
      const chunks: Buffer[] = [];
      s.on('data', (d: Buffer) => {
        chunks.push(d);
        const all = Buffer.concat(chunks);
        const end = all.indexOf('\r\n\r\n');
        if (end !== -1 && all.length - end - 4 >= BIG.length) {
          s.destroy();
          resolve(all.subarray(end + 4));
        }
      });
      s.on('error', reject);
    });
    assert.ok(big.equals(BIG), 'the body arrives whole and unchanged');
  });

  it('relays an answer delimited by the connection closing, then closes the client connection', async () => {
    const r = await raw('GET /close HTTP/1.1\r\nhost: shop\r\n\r\n', () => false);
    assert.match(r.out, /^HTTP\/1\.1 200 /);
    assert.match(r.out, /connection: close/i);
    assert.ok(r.out.endsWith('until the connection closes'), r.out);
    assert.ok(r.closed);
  });

  it('answers 502 UPE when the application answers with something that is not clean HTTP/1.1', async () => {
    const r = await get(port, '/bad', { host: 'shop' });
    assert.equal(r.status, 502);
    assert.equal(r.headers['x-mesh-response-flags'], 'UPE');
    assert.doesNotMatch(r.body, /hello/, 'nothing of the ambiguous answer reaches the client');
  });

  it('answers pipelined requests in order on one connection', async () => {
    const count = (s: string) => s.match(/HTTP\/1\.1 200/g)?.length ?? 0;
    const r = await raw(
      'GET /one HTTP/1.1\r\nhost: shop\r\n\r\nGET /two HTTP/1.1\r\nhost: shop\r\n\r\nGET /three HTTP/1.1\r\nhost: shop\r\n\r\n',
      (out) => count(out) === 3 && out.includes('/three"'),
    );
    const paths = [...r.out.matchAll(/"path":"([^"]+)"/g)].map((m) => m[1]);
    assert.deepEqual(paths, ['/one', '/two', '/three']);
  });

  it('hands a connection to the full parser mid-way (a chunked upload) and keeps answering on it', async () => {
    const upload = 'POST /upload HTTP/1.1\r\nhost: shop\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n';
    const posted = 'POST /small HTTP/1.1\r\nhost: shop\r\ncontent-length: 11\r\n\r\nhello world';
    const r = await raw(['GET /first HTTP/1.1\r\nhost: shop\r\n\r\n', upload, posted], (out) => out.includes('"/small"'));
    const answers = [...r.out.matchAll(/\{[^}]*\}/g)].map((m) => JSON.parse(m[0]));
    assert.deepEqual(
      answers.map((a) => a.path),
      ['/first', '/upload', '/small'],
    );
    const sha = createHash('sha256').update('hello world').digest('hex');
    assert.equal(answers[1].bodySha, sha, 'the chunked body arrives whole');
    assert.equal(answers[2].bodySha, sha, 'and so does the next one on the same connection');
  });

  it('does not reuse an upstream connection that sent bytes while no request waited, and never passes them on', async () => {
    assert.equal((await get(port, '/then-junk', { host: 'shop' })).body, 'ok');
    // The pool would keep an idle connection for seconds; this one is closed as soon as it speaks out of turn.
    await waitFor('the sidecar to close the connection that sent bytes unasked', () => junkSocketClosedAfterMs >= 0, 1000, 20);
    for (let i = 0; i < 5; i++) {
      const next = await get(port, `/after-junk/${i}`, { host: 'shop' });
      assert.equal(next.status, 200);
      assert.equal(next.json().path, `/after-junk/${i}`, 'the answer is the one asked for, not the bytes sent unasked');
    }
  });

  it('keeps upstream connections alive across requests', async () => {
    const before = appConnections;
    for (let i = 0; i < 40; i++) assert.equal((await get(port, `/seq/${i}`, { host: 'shop' })).status, 200);
    assert.ok(appConnections - before <= 2, `40 requests one after another opened ${appConnections - before} connections to the application`);
  });
});
