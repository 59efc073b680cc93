// Attacks over real sockets against real sidecars (real mTLS, a real controller): each test sends
// what an attacker would and checks what a user relies on: the sidecar keeps serving, a denied
// request never reaches the application, and the application is told nothing a caller forged.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { connect as h2connect } from 'node:http2';
import { connect, type Socket } from 'node:net';
import { after, afterEach, before, describe, it } from 'node:test';
import { startController, type TestController } from '../helpers/controller.js';
import { testIssuer } from '../helpers/jwt.js';
import { waitFor } from '../helpers/ports.js';
import { startProxyProcess, type ProxyProcess } from '../helpers/proxy-process.js';

/** What the application saw: one entry per request that reached it. */
interface Seen {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
}

/**
 * An application as many are: Node's HTTP server with no 'upgrade' handler, so a request asking
 * for an upgrade gets an ordinary answer and the connection stays HTTP/1.1 (the case an upgrade
 * smuggler relies on).
 */
async function startRecordingApp(): Promise<{ server: Server; port: number; seen: Seen[] }> {
  const seen: Seen[] = [];
  const server = createHttpServer((req, res) => {
    seen.push({ method: req.method ?? '', path: req.url ?? '', headers: req.headers });
    req.resume();
    req.on('end', () => {
      const body = JSON.stringify({ path: req.url, headers: req.headers });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, port: (server.address() as { port: number }).port, seen };
}

/** Sends raw bytes, then collects what comes back until the peer closes or `untilMs` passes. */
function rawExchange(port: number, steps: (socket: Socket, received: () => string) => Promise<void>, untilMs = 3000): Promise<{ text: string; closed: boolean }> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    let text = '';
    let closed = false;
    socket.on('data', (d: Buffer) => (text += d.toString('latin1')));
    socket.on('error', () => undefined);
    socket.on('close', () => (closed = true));
    socket.once('connect', () => {
      steps(socket, () => text)
        .then(async () => {
          const deadline = Date.now() + untilMs;
          while (!closed && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
          socket.destroy();
          resolve({ text, closed });
        })
        .catch(reject);
    });
  });
}

const until = async (what: string, check: () => boolean) => waitFor(what, check, 3000, 10);

/** Responses in a raw HTTP/1.1 byte stream, by their status lines. */
const statuses = (text: string) => [...text.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => Number(m[1]));

describe('hostile input over real sockets', () => {
  let c: TestController;
  let app: Awaited<ReturnType<typeof startRecordingApp>>;
  // Real mesh-proxy processes: the first question of every attack is whether they survive it.
  let backend: ProxyProcess;
  let frontend: ProxyProcess;
  const issuer = testIssuer('ES256');

  before(async () => {
    c = await startController();
    app = await startRecordingApp();
    backend = await startProxyProcess(c, 'backend', app.port);
    await c.call('POST', '/v1/catalog/instances', {
      id: 'backend-1',
      service: 'backend',
      address: '127.0.0.1',
      port: app.port,
      protocol: 'http',
      labels: { version: 'v1' },
      sidecar: { inboundPort: backend.ports.inbound },
    });
    frontend = await startProxyProcess(c, 'frontend', 1, { upstreams: ['backend'] });
    // Plaintext is allowed in (PERMISSIVE, the default), so anyone on the network can reach the
    // backend's inbound port; /admin is denied to everyone; tokens of one issuer are checked and
    // their payload given to the app in x-jwt-payload.
    await c.call('POST', '/v1/apply', {
      apiVersion: 'security.istio.io/v1',
      kind: 'AuthorizationPolicy',
      metadata: { name: 'no-admin', namespace: 'default' },
      spec: { selector: { matchLabels: { app: 'backend' } }, action: 'DENY', rules: [{ to: [{ operation: { paths: ['/admin', '/admin/*'] } }] }] },
    });
    await c.call('POST', '/v1/apply', {
      apiVersion: 'security.istio.io/v1',
      kind: 'RequestAuthentication',
      metadata: { name: 'backend-jwt', namespace: 'default' },
      spec: { selector: { matchLabels: { app: 'backend' } }, jwtRules: [{ issuer: 'https://issuer.test', jwks: issuer.jwks, outputPayloadToHeader: 'x-jwt-payload' }] },
    });
    await waitFor(
      'the policies at the backend',
      async () => {
        const snap = await backend.configDump();
        return snap?.inbound.authorization.deny.length > 0 && snap.inbound.jwtRules.length > 0;
      },
      5000,
    );
    await waitFor(
      'the frontend to learn the backend',
      async () => (await frontend.configDump())?.outbound.services.find((s: { name: string }) => s.name === 'backend')?.clusters[0].endpoints.length === 1,
      5000,
    );
  });

  after(async () => {
    await backend?.stop();
    await frontend?.stop();
    app.server.closeAllConnections();
    await new Promise((r) => app.server.close(r));
    await c?.close();
  });

  /** Every test ends with both sidecar processes alive. */
  afterEach(() => {
    assert.ok(backend.alive(), `the backend sidecar process exited: ${backend.output().slice(-2000)}`);
    assert.ok(frontend.alive(), `the frontend sidecar process exited: ${frontend.output().slice(-2000)}`);
  });

  const inbound = () => backend.ports.inbound;
  const outbound = () => frontend.ports.upstreams.backend;

  describe('an HTTP/2 stream cannot end the sidecar', () => {
    /** A GET whose DATA goes past its content-length: nghttp2 resets the stream with a stream error. */
    async function overlongStream(port: number, path: string): Promise<void> {
      const session = h2connect(`http://127.0.0.1:${port}`);
      session.on('error', () => undefined);
      try {
        await new Promise<void>((resolve) => {
          const s = session.request({ ':method': 'GET', ':path': path, ':authority': 'backend', 'content-length': '1' }, { endStream: false });
          s.on('error', () => resolve());
          s.on('close', () => resolve());
          s.resume();
          s.write(Buffer.alloc(64, 0x61));
          s.end(Buffer.alloc(64, 0x62));
        });
      } finally {
        session.destroy();
      }
    }

    const stillServes = async (port: number) => {
      const session = h2connect(`http://127.0.0.1:${port}`);
      try {
        const status = await new Promise<number>((resolve, reject) => {
          const s = session.request({ ':method': 'GET', ':path': '/after', ':authority': 'backend' });
          s.on('response', (h) => resolve(Number(h[':status'])));
          s.on('error', reject);
          s.resume();
        });
        assert.equal(status, 200, 'the sidecar still serves new connections');
      } finally {
        session.close();
      }
    };

    for (const side of ['inbound (plaintext, PERMISSIVE)', 'outbound (from the application)'] as const) {
      it(`survives DATA past content-length on an allowed and a refused stream: ${side}`, async () => {
        const port = side.startsWith('inbound') ? inbound() : outbound();
        for (const path of ['/allowed', '/admin', '/allowed', '/admin']) await overlongStream(port, path);
        await stillServes(port);
      });
    }
  });

  describe('an upgrade that the application does not accept is no tunnel', () => {
    for (const side of ['inbound (plaintext, PERMISSIVE)', 'outbound (from the application)'] as const) {
      for (const protocol of ['websocket', 'h2c']) {
        it(`every request after a refused ${protocol} upgrade is checked: ${side}`, async () => {
          const port = side.startsWith('inbound') ? inbound() : outbound();
          const before = app.seen.length;
          const extra =
            protocol === 'h2c'
              ? 'HTTP2-Settings: AAMAAABkAAQAAP__\r\nConnection: Upgrade, HTTP2-Settings\r\n'
              : 'Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n';
          const r = await rawExchange(port, async (socket, received) => {
            socket.write(`GET /public HTTP/1.1\r\nHost: backend\r\nUpgrade: ${protocol}\r\n${extra}\r\n`);
            await until('the answer to the upgrade request', () => statuses(received()).length >= 1);
            socket.write('GET /admin HTTP/1.1\r\nHost: backend\r\n\r\n');
          });
          const paths = app.seen.slice(before).map((s) => s.path);
          assert.deepEqual(
            paths.filter((p) => p.startsWith('/admin')),
            [],
            'the denied path never reached the application',
          );
          assert.ok(paths.includes('/public'), `the allowed request was answered by the application (saw ${paths.join(', ')})`);
          const codes = statuses(r.text);
          assert.equal(codes[0], 200, r.text);
          assert.ok(codes[1] === 403 || (codes.length === 1 && r.closed), `the second request is refused or the connection closed: ${JSON.stringify(r.text)}`);
        });
      }
    }
  });

  describe('malformed HTTP/1.1 is refused at once', () => {
    for (const [side, port] of [
      ['inbound', () => inbound()],
      ['outbound', () => outbound()],
    ] as const) {
      it(`answers a head whose lines end in a bare LF with 400, not after the head timeout: ${side}`, async () => {
        const before = app.seen.length;
        const r = await rawExchange(port(), async (socket) => void socket.write('GET /bare-lf HTTP/1.1\nHost: backend\n\n'));
        assert.equal(statuses(r.text)[0], 400, r.text);
        assert.ok(r.closed, 'and closed');
        assert.equal(app.seen.length, before, 'nothing reached the application');
      });
    }
  });

  describe('the application is told nothing a caller forged', () => {
    const forged = { 'x-jwt-payload': 'eyJzdWIiOiJhZG1pbiJ9', 'x-forwarded-client-cert': 'By=spiffe://cluster.local/ns/default/sa/backend;URI=spiffe://cluster.local/ns/default/sa/root' };
    /** The headers of the last request the app saw with this marker in its path. */
    const seenWith = (marker: string) => app.seen.filter((s) => s.path.includes(marker)).at(-1)?.headers;
    const assertClean = (marker: string, xfcc: 'none' | 'frontend') => {
      const h = seenWith(marker);
      assert.ok(h, `the request ${marker} reached the app`);
      assert.equal(h['x-jwt-payload'], undefined, `${marker}: the caller's x-jwt-payload was removed`);
      if (xfcc === 'none') assert.equal(h['x-forwarded-client-cert'], undefined, `${marker}: no XFCC without a client certificate`);
      else
        assert.equal(
          h['x-forwarded-client-cert'],
          'By=spiffe://cluster.local/ns/default/sa/backend;URI=spiffe://cluster.local/ns/default/sa/frontend',
          `${marker}: XFCC names the verified caller only`,
        );
    };

    for (const [side, port, xfcc] of [
      ['inbound, plaintext', () => inbound(), 'none'],
      ['through the frontend sidecar, mTLS', () => outbound(), 'frontend'],
    ] as const) {
      it(`strips the identity headers on the HTTP/1.1 relay, Node's path, HTTP/2 and upgrades: ${side}`, async () => {
        const tag = side.startsWith('inbound') ? 'in' : 'out';
        const head = (path: string, extra = '') =>
          `GET ${path} HTTP/1.1\r\nHost: backend\r\nX-JWT-Payload: ${forged['x-jwt-payload']}\r\nX-Forwarded-Client-Cert: ${forged['x-forwarded-client-cert']}\r\n${extra}`;
        // The relay (a plain GET); Node's path (a chunked body, which the relay hands over).
        await rawExchange(port(), async (socket, received) => {
          socket.write(`${head(`/relay-${tag}`)}Connection: close\r\n\r\n`);
          await until('the relay answer', () => statuses(received()).length === 1);
        });
        await rawExchange(port(), async (socket, received) => {
          socket.write(`${head(`/node-${tag}`).replace('GET', 'POST')}Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n2\r\nhi\r\n0\r\n\r\n`);
          await until("Node's answer", () => statuses(received()).length === 1);
        });
        // An upgrade the app does not take: its request still reaches the app, clean.
        await rawExchange(port(), async (socket, received) => {
          socket.write(`${head(`/upgrade-${tag}`)}Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`);
          await until('the answer to the upgrade', () => statuses(received()).length === 1);
        });
        const session = h2connect(`http://127.0.0.1:${port()}`);
        try {
          await new Promise<void>((resolve, reject) => {
            const s = session.request({ ':method': 'GET', ':path': `/h2-${tag}`, ':authority': 'backend', ...forged });
            s.on('error', reject);
            s.on('end', resolve);
            s.resume();
          });
        } finally {
          session.close();
        }
        for (const marker of [`/relay-${tag}`, `/node-${tag}`, `/upgrade-${tag}`, `/h2-${tag}`]) assertClean(marker, xfcc);
      });
    }

    it('sets the payload header itself from a token it verified', async () => {
      const token = issuer.token({ iss: 'https://issuer.test', sub: 'alice', exp: Math.floor(Date.now() / 1000) + 600 });
      await rawExchange(inbound(), async (socket, received) => {
        socket.write(`GET /with-token HTTP/1.1\r\nHost: backend\r\nAuthorization: Bearer ${token}\r\nX-JWT-Payload: forged\r\nConnection: close\r\n\r\n`);
        await until('the answer', () => statuses(received()).length === 1);
      });
      const payload = seenWith('/with-token')?.['x-jwt-payload'];
      assert.equal(JSON.parse(Buffer.from(String(payload), 'base64url').toString()).sub, 'alice');
    });
  });

  describe('a DestinationRule that asks for TLS gets TLS, or nothing', () => {
    // A certificate authority and servers outside the mesh (HTTPS only: plaintext is not
    // answered), made by openssl as an operator would.
    const dir = mkdtempSync(join(tmpdir(), 'mesh-origination-'));
    const pem = (name: string) => join(dir, name);
    const servers: HttpsServer[] = [];
    const handshakes: { sni: string | false; clientCert: string | undefined }[] = [];
    let client: ProxyProcess;

    const openssl = (args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
    const leaf = (name: string, subject: string, ext: string) => {
      openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subject]);
      writeFileSync(pem(`${name}.ext`), ext);
      openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2', '-out', `${name}.pem`, '-extfile', `${name}.ext`]);
    };
    async function httpsServer(requireClientCert: boolean): Promise<number> {
      const server = createHttpsServer(
        { cert: readFileSync(pem('server.pem')), key: readFileSync(pem('server.key')), ca: readFileSync(pem('ca.pem')), requestCert: requireClientCert, rejectUnauthorized: requireClientCert },
        (req, res) => {
          const socket = req.socket as TLSSocket;
          handshakes.push({ sni: socket.servername ?? false, clientCert: requireClientCert ? String(socket.getPeerCertificate().subject?.CN) : undefined });
          res.end(`tls ${req.url}`);
        },
      );
      servers.push(server);
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      return (server.address() as { port: number }).port;
    }
    const external = (host: string, port: number) => ({
      apiVersion: 'networking.istio.io/v1',
      kind: 'ServiceEntry',
      metadata: { name: host.replace(/\./g, '-'), namespace: 'default' },
      spec: { hosts: [host], location: 'MESH_EXTERNAL', resolution: 'STATIC', ports: [{ number: 80, name: 'http', protocol: 'HTTP', targetPort: port }], endpoints: [{ address: '127.0.0.1' }] },
    });
    const rule = (host: string, tls: Record<string, unknown>) => ({
      apiVersion: 'networking.istio.io/v1',
      kind: 'DestinationRule',
      metadata: { name: host.replace(/\./g, '-'), namespace: 'default' },
      spec: { host, trafficPolicy: { tls } },
    });

    before(async () => {
      openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=origination test CA']);
      leaf('server', '/CN=secure.example.com', 'subjectAltName=DNS:secure.example.com,DNS:mutual.example.com,DNS:untrusted.example.com\nextendedKeyUsage=serverAuth\n');
      leaf('client', '/CN=mesh-egress', 'extendedKeyUsage=clientAuth\n');
      const simple = await httpsServer(false);
      const mutual = await httpsServer(true);
      for (const doc of [
        external('secure.example.com', simple),
        rule('secure.example.com', { mode: 'SIMPLE', caCertificates: pem('ca.pem') }),
        external('mutual.example.com', mutual),
        rule('mutual.example.com', { mode: 'MUTUAL', caCertificates: pem('ca.pem'), clientCertificate: pem('client.pem'), privateKey: pem('client.key') }),
        external('untrusted.example.com', simple),
        rule('untrusted.example.com', { mode: 'SIMPLE' }),
        external('missing.example.com', simple),
        rule('missing.example.com', { mode: 'SIMPLE', caCertificates: pem('nowhere.pem') }),
      ]) {
        const r = await c.call('POST', '/v1/apply', doc);
        assert.ok(r.status < 300, r.text);
      }
      client = await startProxyProcess(c, 'egress-client', 1, { upstreams: ['secure.example.com', 'mutual.example.com', 'untrusted.example.com', 'missing.example.com'] });
      await waitFor(
        'the external hosts at the client',
        async () => ((await client.configDump())?.outbound.services.filter((x: { name: string }) => x.name.endsWith('.example.com')).length ?? 0) >= 4,
        5000,
      );
    });
    after(async () => {
      await client?.stop();
      for (const s of servers) await new Promise((r) => s.close(r));
    });

    const call = (host: string) => fetch(`http://127.0.0.1:${client.ports.upstreams[host]}/hello`, { headers: { host } }).then(async (r) => ({ status: r.status, body: await r.text() }));

    it("SIMPLE: the sidecar originates TLS with SNI and checks the server against the rule's CA", async () => {
      handshakes.length = 0;
      const r = await call('secure.example.com');
      assert.deepEqual(r, { status: 200, body: 'tls /hello' });
      assert.deepEqual(handshakes, [{ sni: 'secure.example.com', clientCert: undefined }]);
      const metrics = await (await fetch(`http://127.0.0.1:${client.ports.status}/stats/prometheus`)).text();
      const line = metrics.split('\n').find((l) => l.startsWith('istio_requests_total{') && l.includes('destination_service_name="secure.example.com"'));
      assert.ok(line, metrics);
      assert.match(line, /connection_security_policy="unknown"/, 'one-way TLS is not reported as mutual_tls, nor as none');
    });

    it("MUTUAL: the client certificate and key from the rule's files are presented", async () => {
      handshakes.length = 0;
      assert.deepEqual(await call('mutual.example.com'), { status: 200, body: 'tls /hello' });
      assert.deepEqual(handshakes, [{ sni: 'mutual.example.com', clientCert: 'mesh-egress' }]);
    });

    it('a server the rule cannot verify, or a CA file that is missing, fails the call: never plaintext', async () => {
      handshakes.length = 0;
      const untrusted = await call('untrusted.example.com');
      assert.equal(untrusted.status, 503, 'not trusted by the system store');
      const missing = await call('missing.example.com');
      assert.equal(missing.status, 503);
      assert.match(missing.body, /caCertificates .*nowhere\.pem cannot be read/);
      assert.deepEqual(handshakes, [], 'no request reached the server');
    });

    it("validation refuses relative file paths and certificate files with the mesh's own modes", async () => {
      const r = await c.call('POST', '/v1/apply', rule('secure.example.com', { mode: 'ISTIO_MUTUAL', caCertificates: 'ca.pem' }));
      assert.equal(r.status, 422);
      assert.match(r.text, /caCertificates.*absolute path/);
      assert.match(r.text, /ISTIO_MUTUAL takes no caCertificates/);
    });
  });

  describe('a route regex an attacker makes backtrack does not stall the sidecar', () => {
    // A pattern that backtracks exponentially, as some real ones do on the right input.
    before(async () => {
      const applied = await c.call('POST', '/v1/apply', {
        apiVersion: 'networking.istio.io/v1',
        kind: 'VirtualService',
        metadata: { name: 'backend-redos', namespace: 'default' },
        spec: {
          hosts: ['backend'],
          http: [
            { match: [{ uri: { regex: '/redos/(a+)+' } }], headers: { response: { set: { 'x-route': 'redos' } } }, route: [{ destination: { host: 'backend' } }] },
            // Case-insensitive: written without the `i` flag, which the linear engine does not take.
            { match: [{ uri: { regex: '/redosi/(a+)+' }, ignoreUriCase: true }], headers: { response: { set: { 'x-route': 'redosi' } } }, route: [{ destination: { host: 'backend' } }] },
            // A repetition inside a repetition multiplying past what the fallback takes: written out for it.
            { match: [{ uri: { regex: '/redosn/(a{1,30})+' } }], headers: { response: { set: { 'x-route': 'redosn' } } }, route: [{ destination: { host: 'backend' } }] },
            { route: [{ destination: { host: 'backend' } }] },
          ],
        },
      });
      assert.ok(applied.status < 300, applied.text);
      await waitFor('the route at the frontend', async () => (await frontend.configDump())?.outbound.services.find((s: { name: string }) => s.name === 'backend')?.httpRoutes.length === 4, 5000);
    });
    after(() => c.call('DELETE', '/v1/resources/virtualservice/default/backend-redos'));

    it('answers a path crafted against the pattern at once, and matches the pattern as before', async () => {
      // 40 characters: about 2^40 steps of backtracking, hours of one core, without the fallback.
      const crafted = await rawExchange(outbound(), async (s) => void s.write(`GET /redos/${'a'.repeat(40)}! HTTP/1.1\r\nHost: backend\r\nconnection: close\r\n\r\n`), 5000);
      assert.equal(statuses(crafted.text)[0], 200, 'the default route took it');
      assert.doesNotMatch(crafted.text, /x-route: redos/i);
      const matching = await rawExchange(outbound(), async (s) => void s.write(`GET /redos/${'a'.repeat(40)} HTTP/1.1\r\nHost: backend\r\nconnection: close\r\n\r\n`), 5000);
      assert.equal(statuses(matching.text)[0], 200);
      assert.match(matching.text, /x-route: redos/i, 'the regex route took the path it matches');
    });

    it('does so for a case-insensitive route (ignoreUriCase) too', async () => {
      const crafted = await rawExchange(outbound(), async (s) => void s.write(`GET /REDOSI/${'aA'.repeat(20)}! HTTP/1.1\r\nHost: backend\r\nconnection: close\r\n\r\n`), 5000);
      assert.equal(statuses(crafted.text)[0], 200, 'the default route took it');
      assert.doesNotMatch(crafted.text, /x-route: redosi/i);
      const matching = await rawExchange(outbound(), async (s) => void s.write(`GET /RedosI/${'aA'.repeat(20)} HTTP/1.1\r\nHost: backend\r\nconnection: close\r\n\r\n`), 5000);
      assert.match(matching.text, /x-route: redosi/i, 'the route took the path in another case');
    });

    it('does so for a large repetition inside another, (a{1,30})+', async () => {
      const crafted = await rawExchange(outbound(), async (s) => void s.write(`GET /redosn/${'a'.repeat(40)}! HTTP/1.1\r\nHost: backend\r\nconnection: close\r\n\r\n`), 5000);
      assert.equal(statuses(crafted.text)[0], 200, 'the default route took it');
      assert.doesNotMatch(crafted.text, /x-route: redosn/i);
      const matching = await rawExchange(outbound(), async (s) => void s.write(`GET /redosn/${'a'.repeat(40)} HTTP/1.1\r\nHost: backend\r\nconnection: close\r\n\r\n`), 5000);
      assert.match(matching.text, /x-route: redosn/i, 'the regex route took the path it matches');
    });
  });

  describe('the admin interface is for the host only', () => {
    // This sidecar's listeners are bound to 127.0.0.2, standing in for the host's network
    // address; the admin interface must stay on 127.0.0.1 all the same.
    let exposed: ProxyProcess;
    before(async () => {
      exposed = await startProxyProcess(c, 'exposed', app.port, { bind: '127.0.0.2' });
    });
    after(() => exposed?.stop());

    const dial = (host: string, port: number, path: string, method = 'GET') =>
      fetch(`http://${host}:${port}${path}`, { method }).then(
        (r) => r.status,
        (e: Error & { cause?: { code?: string } }) => e.cause?.code ?? 'error',
      );

    it('listens on loopback only, so POST /drain and /config_dump are out of reach from the network', async () => {
      assert.equal(await dial('127.0.0.2', exposed.ports.admin, '/config_dump'), 'ECONNREFUSED');
      assert.equal(await dial('127.0.0.2', exposed.ports.admin, '/drain', 'POST'), 'ECONNREFUSED');
      assert.equal(await dial('127.0.0.1', exposed.ports.admin, '/config_dump'), 200, 'on the host itself it serves');
    });

    it('refuses a request for another host name (DNS rebinding from a browser on the host)', async () => {
      const r = await rawExchange(exposed.ports.admin, async (socket) => void socket.write('POST /drain HTTP/1.1\r\nHost: attacker.example:15000\r\nContent-Length: 0\r\nConnection: close\r\n\r\n'));
      assert.equal(statuses(r.text)[0], 403);
      assert.equal(await dial('127.0.0.2', exposed.ports.status, '/healthz/ready'), 200, 'the sidecar did not drain');
    });

    it('serves readiness, the app check and metrics on the status port, on the network address, and nothing else', async () => {
      assert.equal(await dial('127.0.0.2', exposed.ports.status, '/healthz/ready'), 200);
      assert.equal(await dial('127.0.0.2', exposed.ports.status, '/healthz/app'), 200);
      const metrics = await (await fetch(`http://127.0.0.2:${exposed.ports.status}/stats/prometheus`)).text();
      assert.match(metrics, /istio_build|mesh_proxy_config_version|istio_requests_total|# HELP/);
      assert.equal(await dial('127.0.0.2', exposed.ports.status, '/config_dump'), 404);
      assert.equal(await dial('127.0.0.2', exposed.ports.status, '/certs'), 404);
      assert.equal(await dial('127.0.0.2', exposed.ports.status, '/drain', 'POST'), 405);
    });
  });
});
