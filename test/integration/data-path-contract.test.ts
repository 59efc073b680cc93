// The data-path contract: every traffic-management and security behaviour of the sidecar, run
// against each codec that carries HTTP: HTTP/1.1 on the byte relay, HTTP/1.1 on Node's HTTP
// path, HTTP/2 (h2c from the application), gRPC (a real gRPC client, @grpc/grpc-js) and
// WebSocket upgrades. Same resources, same paths, same expectations; a gRPC caller gets the
// sidecar's own answers as gRPC statuses. Each case that skips a codec says why.
//
// The mesh: a client sidecar per codec (so that per-client state such as outlier ejection is
// each codec's own), mutual TLS STRICT, and two versions of each service behind their own
// sidecars: `api` (HTTP/1.1) and `grpcapi` (gRPC over h2c).
import * as grpc from '@grpc/grpc-js';
import assert from 'node:assert/strict';
import { createServer, request, type Server } from 'node:http';
import { connect as h2connect, type ClientHttp2Session } from 'node:http2';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { Sidecar } from '../../proxy/sidecar.js';
import { startGrpcBackend, startHttpBackend, type ContractBackend, type Seen } from '../helpers/contract-backend.js';
import { startController, type TestController } from '../helpers/controller.js';
import { testIssuer } from '../helpers/jwt.js';
import { waitFor } from '../helpers/ports.js';
import { startSidecar } from '../helpers/sidecar.js';

type Codec = 'relay' | 'node' | 'h2' | 'grpc' | 'upgrade';
const CODECS: Codec[] = ['relay', 'node', 'h2', 'grpc', 'upgrade'];

/** What a caller got, whatever carried it. */
interface Answer {
  /** The HTTP status (200 for every gRPC answer that is not a transport failure). */
  status: number;
  /** gRPC callers only: the call's status code. */
  grpcStatus?: number;
  flags: string | undefined;
  headers: Record<string, string>;
  /** What the application saw, when the request reached it. */
  seen?: Seen;
  elapsedMs: number;
}

/** gRPC's HTTP-to-gRPC mapping (doc/http-grpc-status-mapping.md), as callers rely on it. */
const GRPC_FOR_HTTP: Record<number, number> = { 400: 13, 401: 16, 403: 7, 404: 12, 418: 2, 429: 14, 502: 14, 503: 14, 504: 14 };

const issuer = testIssuer('ES256');
const TRACE_ID = (n: number) => n.toString(16).padStart(32, 'a');

function routes(host: string): object[] {
  const to = (subset: string) => [{ destination: { host, subset } }];
  const prefix = (p: string) => [{ uri: { prefix: `/echo.Echo/${p}` } }];
  return [
    {
      apiVersion: 'networking.istio.io/v1',
      kind: 'DestinationRule',
      metadata: { name: host, namespace: 'default' },
      spec: {
        host,
        subsets: [
          { name: 'v1', labels: { version: 'v1' } },
          { name: 'v2', labels: { version: 'v2' } },
          { name: 'ejecting', labels: { contract: 'yes' }, trafficPolicy: { outlierDetection: { consecutive5xxErrors: 1, interval: '1s', baseEjectionTime: '1m', maxEjectionPercent: 100 } } },
          { name: 'limited', labels: { version: 'v1' }, trafficPolicy: { connectionPool: { tcp: { maxConnections: 1 }, http: { http1MaxPendingRequests: 1 } } } },
        ],
      },
    },
    {
      apiVersion: 'networking.istio.io/v1',
      kind: 'VirtualService',
      metadata: { name: host, namespace: 'default' },
      spec: {
        hosts: [host],
        http: [
          { match: [{ headers: { 'x-version': { exact: 'v2' } } }], route: to('v2') },
          { match: prefix('Old'), rewrite: { uri: '/echo.Echo/New' }, route: to('v1') },
          { match: prefix('Regex'), rewrite: { uriRegexRewrite: { match: 'Regex([A-Z])([a-z]+)', rewrite: 'Rewritten\\2\\1$1' } }, route: to('v1') },
          { match: prefix('Headers'), headers: { request: { set: { 'x-added': 'yes' } }, response: { add: { 'x-route': 'contract' } } }, route: to('v1') },
          { match: prefix('Flaky'), retries: { attempts: 2, retryOn: '5xx,unavailable' }, route: to('v1') },
          { match: prefix('SlowTimeout'), timeout: '100ms', retries: { attempts: 0 }, route: to('v1') },
          { match: prefix('StallTimeout'), timeout: '100ms', retries: { attempts: 0 }, route: to('v1') },
          { match: prefix('Aborted'), fault: { abort: { httpStatus: 418, percentage: { value: 100 } } }, route: to('v1') },
          { match: prefix('GrpcAborted'), fault: { abort: { grpcStatus: 'UNAVAILABLE', percentage: { value: 100 } } }, route: to('v1') },
          { match: prefix('Delayed'), fault: { delay: { fixedDelay: '200ms', percentage: { value: 100 } } }, route: to('v1') },
          { match: prefix('Direct'), directResponse: { status: 404, body: { string: 'nothing here' } } },
          { match: prefix('Redirect'), redirect: { uri: '/echo.Echo/Moved' } },
          { match: prefix('Mirrored'), route: to('v1'), mirror: { host, subset: 'v2' }, mirrorPercentage: { value: 100 } },
          { match: prefix('Mirrors'), route: to('v1'), mirrors: [{ destination: { host, subset: 'v2' } }, { destination: { host, subset: 'v1' }, percentage: { value: 100 } }] },
          { match: prefix('Eject'), retries: { attempts: 0 }, route: to('ejecting') },
          { match: prefix('SlowLimited'), retries: { attempts: 0 }, route: to('limited') },
          { match: prefix('NoSubset'), route: to('v9') },
          { route: to('v1') },
        ],
      },
    },
  ];
}

const POLICIES: object[] = [
  { apiVersion: 'security.istio.io/v1', kind: 'PeerAuthentication', metadata: { name: 'default', namespace: 'istio-system' }, spec: { mtls: { mode: 'STRICT' } } },
  {
    apiVersion: 'security.istio.io/v1',
    kind: 'AuthorizationPolicy',
    metadata: { name: 'deny-denied', namespace: 'default' },
    spec: { action: 'DENY', rules: [{ to: [{ operation: { paths: ['/echo.Echo/Denied*'] } }] }] },
  },
  {
    apiVersion: 'security.istio.io/v1',
    kind: 'RequestAuthentication',
    metadata: { name: 'jwt', namespace: 'default' },
    spec: { jwtRules: [{ issuer: 'contract-issuer', jwks: issuer.jwks, outputPayloadToHeader: 'x-jwt-payload' }] },
  },
  {
    apiVersion: 'security.istio.io/v1',
    kind: 'AuthorizationPolicy',
    metadata: { name: 'require-jwt', namespace: 'default' },
    spec: { action: 'DENY', rules: [{ from: [{ source: { notRequestPrincipals: ['*'] } }], to: [{ operation: { paths: ['/echo.Echo/Jwt*'] } }] }] },
  },
  {
    apiVersion: 'policy.hostmesh.io/v1alpha1',
    kind: 'LocalRateLimit',
    metadata: { name: 'limits', namespace: 'default' },
    spec: {
      tokenBucket: { maxTokens: 100_000, tokensPerFill: 100_000, fillInterval: '1s' },
      routes: CODECS.map((codec) => ({ name: codec, match: [{ uri: { prefix: `/echo.Echo/Limited-${codec}` } }], tokenBucket: { maxTokens: 1, tokensPerFill: 1, fillInterval: '1h' } })),
    },
  },
];

describe('the data-path contract, on every codec', () => {
  let c: TestController;
  let collector: Server;
  const spans: { traceId: string; service: string }[] = [];
  const backends: Record<string, ContractBackend> = {};
  const servers: Record<string, Sidecar> = {};
  const clients = {} as Record<Codec, Sidecar>;
  const grpcClients = new Map<string, grpc.Client>();

  before(async () => {
    c = await startController();
    collector = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (d: Buffer) => chunks.push(d));
      req.on('end', () => {
        const body = JSON.parse(Buffer.concat(chunks).toString()) as {
          resourceSpans: { resource: { attributes: { key: string; value: { stringValue: string } }[] }; scopeSpans: { spans: { traceId: string }[] }[] }[];
        };
        for (const rs of body.resourceSpans) {
          const service = rs.resource.attributes.find((a) => a.key === 'service.name')?.value.stringValue ?? '';
          for (const ss of rs.scopeSpans) for (const s of ss.spans) spans.push({ traceId: s.traceId, service });
        }
        res.end('{}');
      });
    });
    await new Promise<void>((r) => collector.listen(0, '127.0.0.1', r));
    const tracing = { endpoint: `http://127.0.0.1:${(collector.address() as { port: number }).port}/v1/traces`, samplingPercent: 100 };

    for (const [service, start, protocol] of [
      ['api', startHttpBackend, 'http'],
      ['grpcapi', startGrpcBackend, 'grpc'],
    ] as const) {
      for (const version of ['v1', 'v2']) {
        const name = `${service}-${version}`;
        const backend = (backends[name] = await start(name));
        const sidecar = (servers[name] = await startSidecar(c, service, backend.port, { proxyId: name, tracing }));
        const registered = await c.call('POST', '/v1/catalog/instances', {
          id: name,
          service,
          address: '127.0.0.1',
          port: backend.port,
          protocol,
          labels: { version, contract: 'yes' },
          sidecar: { inboundPort: sidecar.ports.inbound },
        });
        assert.ok(registered.status < 300, registered.text);
      }
    }
    for (const resource of [...routes('api'), ...routes('grpcapi'), ...POLICIES]) {
      const applied = await c.call('POST', '/v1/apply', resource);
      assert.ok(applied.status < 300, applied.text);
    }
    const upstreams = [
      { port: 0, service: 'api' },
      { port: 0, service: 'grpcapi' },
    ];
    for (const codec of CODECS) clients[codec] = await startSidecar(c, 'web', 1, { proxyId: `web-${codec}`, upstreams, tracing, http1Relay: codec !== 'node' });
    const configured = (s: Sidecar) =>
      ['api', 'grpcapi'].every((name) => {
        const svc = s.snapshot?.outbound.services.find((x) => x.name === name);
        return svc?.httpRoutes.length === 18 && svc.clusters.find((x) => x.subset === undefined)?.endpoints.length === 2;
      });
    await waitFor('every client to know both services and their routes', () => CODECS.every((codec) => configured(clients[codec])), 10_000);
    await waitFor('the policies at every server', () => Object.values(servers).every((s) => s.snapshot?.inbound.ports[0]?.mtlsMode === 'STRICT' && s.snapshot.inbound.rateLimit !== undefined), 10_000);
  });

  after(async () => {
    for (const g of grpcClients.values()) g.close();
    for (const s of [...Object.values(clients), ...Object.values(servers)]) await s?.close();
    for (const b of Object.values(backends)) await b.close();
    await new Promise((r) => collector?.close(r));
    await c?.close();
  });

  const hostFor = (codec: Codec) => (codec === 'grpc' ? 'grpcapi' : 'api');
  const portFor = (codec: Codec) => clients[codec].ports.upstreams[hostFor(codec)];

  /** One request from the application beside `codec`'s client sidecar, carried by that codec. */
  function send(codec: Codec, path: string, headers: Record<string, string> = {}, port = portFor(codec)): Promise<Answer> {
    const started = performance.now();
    const done = (a: Omit<Answer, 'elapsedMs'>): Answer => ({ ...a, elapsedMs: performance.now() - started });
    if (codec === 'relay' || codec === 'node') return http1(port, path, headers).then(done);
    if (codec === 'h2') return h2(port, path, headers).then(done);
    if (codec === 'grpc') return grpcCall(port, path, headers).then(done);
    return upgrade(port, path, headers).then(done);
  }

  function http1(port: number, path: string, headers: Record<string, string>): Promise<Omit<Answer, 'elapsedMs'>> {
    return new Promise((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, path, headers: { host: 'api', ...headers }, agent: false }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (d: Buffer) => chunks.push(d));
        res.on('end', () => resolve(answerOf(res.statusCode ?? 0, res.headers as Record<string, string>, Buffer.concat(chunks).toString())));
        res.on('error', () => undefined);
        res.on('close', () => !res.complete && reject(new Error('the answer broke off after its head')));
      });
      req.on('error', reject);
      req.end();
    });
  }

  async function h2(port: number, path: string, headers: Record<string, string>): Promise<Omit<Answer, 'elapsedMs'>> {
    const session: ClientHttp2Session = h2connect(`http://127.0.0.1:${port}`);
    session.on('error', () => undefined);
    try {
      return await new Promise((resolve, reject) => {
        const s = session.request({ ':authority': 'api', ':path': path, ...headers });
        let head: Record<string, string> = {};
        const chunks: Buffer[] = [];
        s.on('response', (h) => (head = h as Record<string, string>));
        s.on('data', (d: Buffer) => chunks.push(d));
        s.on('end', () => (head[':status'] ? resolve(answerOf(Number(head[':status']), head, Buffer.concat(chunks).toString())) : reject(new Error('the stream ended without an answer'))));
        s.on('error', reject);
      });
    } finally {
      session.close();
    }
  }

  function grpcCall(port: number, path: string, headers: Record<string, string>): Promise<Omit<Answer, 'elapsedMs'>> {
    const key = String(port);
    let client = grpcClients.get(key);
    if (!client) grpcClients.set(key, (client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), { 'grpc.default_authority': 'grpcapi' })));
    const metadata = new grpc.Metadata();
    for (const [k, v] of Object.entries(headers)) metadata.set(k, v);
    return new Promise((resolve) => {
      let head: Record<string, string> = {};
      let message: Buffer | undefined;
      const call = client.makeUnaryRequest(
        path,
        (b: Buffer) => b,
        (b: Buffer) => b,
        Buffer.alloc(0),
        metadata,
        { deadline: Date.now() + 10_000 },
        (_err, value) => (message = value),
      );
      call.on('metadata', (m: grpc.Metadata) => (head = flatten(m)));
      call.on('status', (st: grpc.StatusObject) => {
        const all = { ...head, ...flatten(st.metadata) };
        const seen = message ? (JSON.parse(message.toString()) as Seen) : undefined;
        resolve({ status: 200, grpcStatus: st.code, flags: all['x-mesh-response-flags'], headers: all, seen });
      });
    });
  }

  function upgrade(port: number, path: string, headers: Record<string, string>): Promise<Omit<Answer, 'elapsedMs'>> {
    const extra = Object.entries(headers)
      .map(([k, v]) => `${k}: ${v}\r\n`)
      .join('');
    return new Promise((resolve) => {
      const s = connect(port, '127.0.0.1', () =>
        s.write(`GET ${path} HTTP/1.1\r\nHost: api\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n${extra}\r\n`),
      );
      let got = '';
      s.on('data', (d: Buffer) => {
        got += d;
        if (got.includes('\r\n\r\n')) s.destroy();
      });
      s.on('close', () => {
        const [statusLine, ...lines] = got.split('\r\n\r\n')[0].split('\r\n');
        const head: Record<string, string> = {};
        for (const l of lines) head[l.slice(0, l.indexOf(':')).toLowerCase()] = l.slice(l.indexOf(':') + 1).trim();
        const seen = head['x-seen'] ? (JSON.parse(Buffer.from(head['x-seen'], 'base64').toString()) as Seen) : undefined;
        resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(statusLine ?? '')?.[1] ?? 0), flags: head['x-mesh-response-flags'], headers: head, seen });
      });
      s.on('error', () => undefined);
    });
  }

  /** One HTTP/1.1 exchange as bytes (the request says `Connection: close`), the answer as latin1 text. */
  function rawHttp1(port: number, request: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const s = connect(port, '127.0.0.1', () => s.write(request));
      const chunks: Buffer[] = [];
      s.on('data', (d: Buffer) => chunks.push(d));
      s.on('end', () => resolve(Buffer.concat(chunks).toString('latin1')));
      s.on('error', reject);
    });
  }

  /** A chunked body's content (extensions and trailers ignored). */
  function unchunked(body: string): string {
    let out = '';
    for (let at = 0; ;) {
      const eol = body.indexOf('\r\n', at);
      const size = parseInt(body.slice(at, eol), 16);
      if (!(size > 0)) return out;
      out += body.slice(eol + 2, eol + 2 + size);
      at = eol + 2 + size + 2;
    }
  }

  /** An open tunnel is a request in flight until it closes: two held open fill the pool, a third is 503 UO. */
  async function tunnelsCountAgainstLimits(): Promise<void> {
    const open = (path: string) =>
      new Promise<{ socket: ReturnType<typeof connect>; status: number; flags: string | undefined }>((resolve) => {
        const socket = connect(portFor('upgrade'), '127.0.0.1', () =>
          socket.write(`GET ${path} HTTP/1.1\r\nHost: api\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`),
        );
        let got = '';
        socket.on('data', (d: Buffer) => {
          got += d;
          if (got.includes('\r\n\r\n')) resolve({ socket, status: Number(/^HTTP\/1\.1 (\d{3})/.exec(got)?.[1] ?? 0), flags: /x-mesh-response-flags: (\S+)/i.exec(got)?.[1] });
        });
        socket.on('error', () => undefined);
      });
    const held = [await open('/echo.Echo/SlowLimited/tunnel-1'), await open('/echo.Echo/SlowLimited/tunnel-2')];
    try {
      assert.deepEqual(
        held.map((h) => h.status),
        [101, 101],
      );
      const third = await open('/echo.Echo/SlowLimited/tunnel-3');
      third.socket.destroy();
      assert.deepEqual({ status: third.status, flags: third.flags }, { status: 503, flags: 'UO' });
    } finally {
      for (const h of held) h.socket.destroy();
    }
  }

  function answerOf(status: number, headers: Record<string, string>, body: string): Omit<Answer, 'elapsedMs'> {
    let seen: Seen | undefined;
    if (String(headers['content-type']).startsWith('application/json')) seen = JSON.parse(body) as Seen;
    return { status, flags: headers['x-mesh-response-flags'], headers, seen };
  }

  function flatten(m: grpc.Metadata): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(m.getMap())) out[k] = String(v);
    return out;
  }

  /** The request reached the application and its answer came back: 200, 101 for an upgrade, gRPC OK. */
  function assertServed(codec: Codec, a: Answer): Seen {
    if (codec === 'grpc') assert.equal(a.grpcStatus, 0, `gRPC status ${a.grpcStatus} (${a.flags})`);
    else assert.equal(a.status, codec === 'upgrade' ? 101 : 200, `status ${a.status} (${a.flags})`);
    assert.ok(a.seen, 'the application answered');
    return a.seen;
  }

  /** The sidecar answered itself with `status` and `flags`; a gRPC caller gets the mapped gRPC status. */
  function assertLocal(codec: Codec, a: Answer, status: number, flags: string | undefined): void {
    if (codec === 'grpc') assert.equal(a.grpcStatus, GRPC_FOR_HTTP[status], `gRPC status for ${status}`);
    else assert.equal(a.status, status);
    if (flags !== undefined) assert.equal(a.flags, flags);
    assert.equal(a.seen, undefined, 'the application was not reached');
  }

  const UPGRADE_NO_REPLAY = 'an upgrade is never replayed or raced: once the application accepts it, the connection is a tunnel';

  function contract(name: string, skips: Partial<Record<Codec, string>>, body: (codec: Codec) => Promise<void>): void {
    for (const codec of CODECS) {
      const why = skips[codec];
      it(`${codec}: ${name}`, why ? { skip: why } : {}, () => body(codec));
    }
  }

  // Routing.
  contract('a header match picks its subset, and everything else takes the default route', {}, async (codec) => {
    assert.equal(assertServed(codec, await send(codec, '/echo.Echo/Who', { 'x-version': 'v2' })).app, `${hostFor(codec)}-v2`);
    assert.equal(assertServed(codec, await send(codec, '/echo.Echo/Who')).app, `${hostFor(codec)}-v1`);
  });

  contract('a prefix rewrite replaces the matched prefix only', {}, async (codec) => {
    assert.equal(assertServed(codec, await send(codec, '/echo.Echo/Old/tail?q=1')).path, '/echo.Echo/New/tail?q=1');
  });

  contract('a regex rewrite replaces every match in the path with its groups, the query left alone and `$` literal', {}, async (codec) => {
    assert.equal(assertServed(codec, await send(codec, '/echo.Echo/RegexAbcRegexDe?q=RegexAbc')).path, '/echo.Echo/RewrittenbcA$1RewritteneD$1?q=RegexAbc');
  });

  contract('header rules change what the application sees and what the caller gets', {}, async (codec) => {
    const a = await send(codec, '/echo.Echo/Headers');
    assert.equal(assertServed(codec, a).headers['x-added'], 'yes');
    assert.equal(a.headers['x-route'], 'contract');
  });

  // A sidecar that keeps headers in plain objects reads `constructor` or `toString` as already
  // there (and sends the function's text as a value) and loses `__proto__`.
  const PROTO_HEADERS = ['constructor', '__proto__', 'toString'];
  contract(
    'headers named like properties of every JavaScript object pass both ways as sent',
    {
      h2: 'HTTP/1.1 only: HTTP/2 fields are carried without a plain object (http2.test.ts sends `constructor`)',
      grpc: 'HTTP/1.1 only, as for h2',
      upgrade: 'HTTP/1.1 requests and answers; the upgrade carries the same heads',
    },
    async (codec) => {
      const lines = PROTO_HEADERS.map((n) => `${n}: sent-${n}\r\n`).join('');
      const raw = await rawHttp1(portFor(codec), `GET /echo.Echo/Names HTTP/1.1\r\nHost: api\r\n${lines}Connection: close\r\n\r\n`);
      const [head, body] = [raw.slice(0, raw.indexOf('\r\n\r\n')), raw.slice(raw.indexOf('\r\n\r\n') + 4)];
      assert.match(head, /^HTTP\/1\.1 200 /);
      const answered = head.split('\r\n').filter((l) => PROTO_HEADERS.some((n) => l.toLowerCase().startsWith(`${n.toLowerCase()}:`)));
      assert.deepEqual(answered.map((l) => l.toLowerCase()).sort(), PROTO_HEADERS.map((n) => `${n}: answer-${n}`.toLowerCase()).sort(), 'each answer header once, as the application sent it');
      const seen = JSON.parse(/transfer-encoding: chunked/i.test(head) ? unchunked(body) : body) as Seen;
      const sent: string[] = [];
      for (let i = 0; i < (seen.rawHeaders?.length ?? 0); i += 2)
        if (PROTO_HEADERS.some((n) => n.toLowerCase() === seen.rawHeaders![i].toLowerCase())) sent.push(`${seen.rawHeaders![i].toLowerCase()}: ${seen.rawHeaders![i + 1]}`);
      // Requests the relay leaves to Node's HTTP parser (the node codec) lose `__proto__` in that
      // parser, before the sidecar sees them: a known gap (Node's own servers lose it too).
      const expectedSent = PROTO_HEADERS.filter((n) => codec !== 'node' || n !== '__proto__');
      assert.deepEqual(sent.sort(), expectedSent.map((n) => `${n.toLowerCase()}: sent-${n}`).sort(), 'each request header reached the application once, as sent');
    },
  );

  contract('a route to a subset no DestinationRule defines is 503 NC (no cluster), as in Envoy', {}, async (codec) => {
    assertLocal(codec, await send(codec, '/echo.Echo/NoSubset'), 503, 'NC');
  });

  // Resilience.
  contract('a retriable failure is retried and the caller sees the success', { upgrade: UPGRADE_NO_REPLAY }, async (codec) => {
    const path = `/echo.Echo/Flaky-${codec}`;
    const before = backends[`${hostFor(codec)}-v1`].seen.filter((s) => s.path === path).length;
    assertServed(codec, await send(codec, path));
    assert.equal(backends[`${hostFor(codec)}-v1`].seen.filter((s) => s.path === path).length - before, 2, 'the first attempt failed, the retry succeeded');
  });

  contract('a route timeout answers 504 UT', { upgrade: 'the route timeout ends at the 101: a tunnel has no response deadline' }, async (codec) => {
    assertLocal(codec, await send(codec, '/echo.Echo/SlowTimeout'), 504, 'UT');
  });

  // Envoy flags UT and resets the stream when the route's timeout fires after the answer's head
  // went out; it is the timeout, not a protocol error of the upstream's (which UPE would say).
  contract("a route timeout after the answer's head breaks the answer off and counts UT", { upgrade: 'the route timeout ends at the 101: a tunnel has no response deadline' }, async (codec) => {
    const outcome = await send(codec, `/echo.Echo/StallTimeout/${codec}`).catch((err: Error) => err);
    if (outcome instanceof Error) assert.ok(outcome, 'the answer broke off');
    else if (codec === 'grpc') assert.notEqual(outcome.grpcStatus, 0, 'the call did not succeed');
    else assert.equal(outcome.seen, undefined, 'no whole answer came');
    const protocol = codec === 'grpc' ? 'grpc' : 'http';
    await waitFor(
      'the client sidecar counting it UT',
      () =>
        clients[codec]
          .metricsText()
          .split('\n')
          .some(
            (l) => l.startsWith('istio_requests_total{reporter="source"') && l.includes('response_flags="UT"') && l.includes('response_code="200"') && l.includes(`request_protocol="${protocol}"`),
          ),
      5_000,
      50,
    );
  });

  contract('connection-pool limits admit what they allow and answer the rest at once with 503 UO', {}, async (codec) => {
    if (codec === 'upgrade') return tunnelsCountAgainstLimits();
    const answers = await Promise.all([1, 2, 3, 4].map((i) => send(codec, `/echo.Echo/SlowLimited/${codec}/${i}`)));
    const overflow = answers.filter((a) => a.flags === 'UO');
    assert.equal(answers.length - overflow.length, 2, 'one connection plus one pending request are admitted');
    for (const a of overflow) assertLocal(codec, a, 503, 'UO');
  });

  contract(
    'an endpoint that fails is ejected by outlier detection, and traffic goes to the healthy one',
    { upgrade: 'outlier detection counts answers; tunnels are not load-balanced away from a host they reach' },
    async (codec) => {
      let failures = 0;
      for (let i = 0; i < 20 && failures === 0; i++) {
        const a = await send(codec, `/echo.Echo/Eject/${i}`);
        if (codec === 'grpc' ? a.grpcStatus !== 0 : a.status !== 200) failures++;
      }
      assert.equal(failures, 1, 'v1 failed once');
      for (let i = 0; i < 10; i++) assert.equal(assertServed(codec, await send(codec, `/echo.Echo/Eject/after-${i}`)).app, `${hostFor(codec)}-v2`);
    },
  );

  // Faults and local answers.
  contract('a fault abort is answered by the client sidecar with its status and FI', {}, async (codec) => {
    assertLocal(codec, await send(codec, '/echo.Echo/Aborted'), 418, 'FI');
  });

  contract("a fault abort with a gRPC status gives a gRPC caller that status and any other a 200, as Envoy's fault filter", {}, async (codec) => {
    const a = await send(codec, '/echo.Echo/GrpcAborted');
    if (codec === 'grpc') assert.equal(a.grpcStatus, 14, 'UNAVAILABLE');
    else assert.equal(a.status, 200);
    assert.equal(a.flags, 'FI');
    assert.equal(a.seen, undefined, 'the application was not reached');
    if (codec === 'grpc')
      assert.ok(
        clients.grpc
          .metricsText()
          .split('\n')
          .some((l) => l.startsWith('istio_requests_total{reporter="source"') && l.includes('response_flags="FI"') && l.includes('grpc_response_status="14"') && l.includes('response_code="200"')),
        'recorded with the gRPC status it sent',
      );
  });

  contract('a fault delay holds the request, then it goes on', {}, async (codec) => {
    const a = await send(codec, '/echo.Echo/Delayed');
    assertServed(codec, a);
    assert.ok(a.elapsedMs >= 190, `answered after ${a.elapsedMs.toFixed(0)} ms`);
  });

  contract('a direct response is answered by the client sidecar', {}, async (codec) => {
    const a = await send(codec, '/echo.Echo/Direct');
    assertLocal(codec, a, 404, undefined);
  });

  contract('a redirect is answered by the client sidecar with its Location', { grpc: 'a gRPC client does not follow redirects; the answer stays HTTP (checked in http2.test.ts)' }, async (codec) => {
    const a = await send(codec, '/echo.Echo/Redirect');
    assert.equal(a.status, 301);
    assert.equal(a.headers.location, 'http://api/echo.Echo/Moved');
  });

  const NOT_MIRRORED = { upgrade: 'an upgrade is not mirrored: a tunnel cannot be copied, and Envoy does not shadow upgrades' };
  const authority = (s: { headers: Record<string, unknown> }) => String(s.headers.host ?? s.headers[':authority'] ?? '');

  contract('a mirrored request reaches the mirror too, marked -shadow, while the caller gets the primary answer', NOT_MIRRORED, async (codec) => {
    const path = `/echo.Echo/Mirrored-${codec}`;
    assert.equal(assertServed(codec, await send(codec, path)).app, `${hostFor(codec)}-v1`);
    const shadow = await waitFor('the shadow request at v2', () => backends[`${hostFor(codec)}-v2`].seen.find((s) => s.path === path));
    assert.match(authority(shadow), /-shadow$/);
  });

  contract('a route with several mirrors sends a copy to each, every one marked -shadow', NOT_MIRRORED, async (codec) => {
    const path = `/echo.Echo/Mirrors-${codec}`;
    assert.equal(assertServed(codec, await send(codec, path)).app, `${hostFor(codec)}-v1`);
    await waitFor('a shadow copy at v2', () => backends[`${hostFor(codec)}-v2`].seen.some((s) => s.path === path && authority(s).endsWith('-shadow')));
    await waitFor(
      'a shadow copy at v1 besides the request itself',
      () =>
        backends[`${hostFor(codec)}-v1`].seen
          .filter((s) => s.path === path)
          .map((s) => authority(s).endsWith('-shadow'))
          .sort()
          .join() === 'false,true',
    );
  });

  // Security, at the server sidecar.
  contract('an AuthorizationPolicy DENY answers 403 and the application never sees the request', {}, async (codec) => {
    assertLocal(codec, await send(codec, `/echo.Echo/Denied/${codec}`), 403, undefined);
    assert.equal(
      Object.values(backends).some((b) => b.seen.some((s) => s.path.startsWith(`/echo.Echo/Denied/${codec}`))),
      false,
    );
  });

  contract('a JWT is required where a policy says so: none 403, a bad one 401, a valid one passes', {}, async (codec) => {
    const good = issuer.token({ iss: 'contract-issuer', sub: 'alice', exp: Math.floor(Date.now() / 1000) + 600 });
    assertLocal(codec, await send(codec, '/echo.Echo/Jwt'), 403, undefined);
    assertLocal(codec, await send(codec, '/echo.Echo/Jwt', { authorization: `Bearer ${good.slice(0, -4)}AAAA` }), 401, undefined);
    assertServed(codec, await send(codec, '/echo.Echo/Jwt', { authorization: `Bearer ${good}` }));
  });

  contract('the local rate limit answers 429 RL once its bucket is empty', {}, async (codec) => {
    const path = `/echo.Echo/Limited-${codec}`;
    assertServed(codec, await send(codec, path));
    assertLocal(codec, await send(codec, path), 429, 'RL');
  });

  contract('identity headers the caller forged never reach the application; the verified caller does', {}, async (codec) => {
    const seen = assertServed(
      codec,
      await send(codec, '/echo.Echo/Who', {
        'x-forwarded-client-cert': 'By=spiffe://evil;URI=spiffe://cluster.local/ns/default/sa/admin',
        'x-jwt-payload': 'e30',
        'x-mesh-peer': 'admin;default;admin;v9;c;admin;v9',
      }),
    );
    assert.match(String(seen.headers['x-forwarded-client-cert']), /;URI=spiffe:\/\/cluster\.local\/ns\/default\/sa\/web$/);
    assert.doesNotMatch(String(seen.headers['x-forwarded-client-cert']), /evil|sa\/admin/);
    assert.equal(seen.headers['x-jwt-payload'], undefined);
    assert.equal(seen.headers['x-mesh-peer'], undefined, "the sidecars' metadata exchange stays between them");
  });

  contract('plaintext to a STRICT workload is refused before the application', { node: 'the server side has one inbound codec for HTTP/1.1 (the relay case covers it)' }, async (codec) => {
    const name = `${hostFor(codec)}-v1`;
    const before = backends[name].seen.length;
    const a = await send(codec, '/echo.Echo/Plain', {}, servers[name].ports.inbound).catch(() => undefined);
    assert.ok(!a || (codec === 'grpc' ? a.grpcStatus !== 0 : a.status === 0), `refused: ${JSON.stringify(a?.status)}`);
    assert.equal(backends[name].seen.length, before);
  });

  // Observability.
  contract('trace context goes on to the application in the same trace, and both sidecars export their spans', {}, async (codec) => {
    const traceId = TRACE_ID(CODECS.indexOf(codec) + 1);
    const seen = assertServed(codec, await send(codec, '/echo.Echo/Traced', { traceparent: `00-${traceId}-00f067aa0ba902b7-01` }));
    const traceparent = String(seen.headers.traceparent);
    assert.equal(traceparent.split('-')[1], traceId);
    assert.notEqual(traceparent.split('-')[2], '00f067aa0ba902b7', 'the sidecars are spans of their own');
    assert.ok(seen.headers['x-request-id'], 'a request id');
    await waitFor('spans from both sidecars', () => ['web', hostFor(codec)].every((svc) => spans.some((s) => s.traceId === traceId && s.service === svc)), 5000);
  });

  contract("both sidecars record the request in Istio's metrics, with what the wire said", {}, async (codec) => {
    assertServed(codec, await send(codec, '/echo.Echo/Counted'));
    const code = codec === 'upgrade' ? '101' : '200';
    const protocol = codec === 'grpc' ? 'grpc' : 'http';
    const series = (text: string, reporter: string) =>
      text.split('\n').filter((l) => l.startsWith(`istio_requests_total{reporter="${reporter}"`) && l.includes(`response_code="${code}"`) && l.includes(`request_protocol="${protocol}"`));
    assert.ok(series(clients[codec].metricsText(), 'source').length > 0, 'at the client');
    const atServer = series(servers[`${hostFor(codec)}-v1`].metricsText(), 'destination');
    assert.ok(atServer.length > 0, 'at the server');
    assert.ok(
      atServer.every((l) => l.includes('connection_security_policy="mutual_tls"')),
      'the server says mutual TLS, as the transport did',
    );
    assert.ok(
      atServer.every((l) => l.includes('source_workload="web",source_workload_namespace="default"') && l.includes(`destination_workload="${hostFor(codec)}-v1"`)),
      'both reporters name the workloads alike (a forged x-mesh-peer changes nothing)',
    );
  });

  it('grpc: a local answer is recorded with the gRPC status it sent, not the HTTP one', async () => {
    assertLocal('grpc', await send('grpc', '/echo.Echo/Aborted'), 418, 'FI');
    const lines = clients.grpc.metricsText().split('\n');
    assert.ok(
      lines.some((l) => l.startsWith('istio_requests_total{reporter="source"') && l.includes('response_flags="FI"') && l.includes('grpc_response_status="2"') && l.includes('response_code="200"')),
    );
  });
});
