// The inbound side: one port that takes mTLS from other sidecars and, where PeerAuthentication
// is PERMISSIVE, plaintext too (told apart by the first byte: 0x16 starts a TLS handshake). The
// peer's SPIFFE ID comes from its verified certificate; the path is normalised; authorization
// decides; the request goes to the application on its own port, with the normalised path.
import { createServer as createHttpServer, type IncomingMessage, type OutgoingHttpHeaders, type Server as HttpServer, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Pool } from 'undici';
import { undici } from './undici-lazy.js';
import { constants as h2constants, type ClientHttp2Stream, type IncomingHttpHeaders as IncomingHttpHeaders2, type IncomingHttpStatusHeader, type ServerHttp2Stream } from 'node:http2';
import { H2Server, isH2Preface } from './h2/server.js';
import { H2Sessions } from './h2/sessions.js';
import { forwardBody, grpcCodeFor, isGrpc, localAnswer, nextHopHeaders, relayAnswer, responseHeaders, streamRequest } from './h2/streams.js';
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import { createServer as createTlsServer, type Server as TlsServer, type TLSSocket } from 'node:tls';
import { authorize } from '../core/policy/authz.js';
import { authenticateJwt } from '../core/policy/jwt.js';
import type { JwksCache } from './jwks-cache.js';
import { normalisePath } from '../core/policy/paths.js';
import type { IdentityMaterial } from './identity.js';
import type { IstioLabels, ProxyMetrics, TcpLabels } from './metrics.js';
import { count, MESH_TCP_ALPN } from './tcp.js';
import type { RuntimeConfig } from './runtime-config.js';
import { callUpstream } from './upstream-call.js';
import { connectPlain, refuseUpgrade, requestHead, splice } from './upgrade.js';
import { answerClientError, clientLimits, forwardableHeaders, trackConnections } from './http-util.js';
import type { ActiveSpan, Tracer } from './tracer.js';
import { STATUS_CODES } from 'node:http';
import { localResponseText, requestHeadText, responseHeadText, responseHeaderMap } from '../core/http1/serialize.js';
import { splitTarget, type RequestView } from './outbound-route.js';
import { Http1Relay, type RelayRequest, type RelayVerdict } from './relay/downstream.js';
import { exchange } from './relay/exchange.js';
import { SocketPool, type Connector, type PoolLimits } from './relay/socket-pool.js';
import { relayLimits } from './relay/limits.js';
import { looksLikeHttp1 } from '../core/http1/request-head.js';

export interface InboundDeps {
  config(): RuntimeConfig | undefined;
  jwks: JwksCache;
  identity(): IdentityMaterial;
  metrics: ProxyMetrics;
  /** The access log; absent when its level is off, so that no log line is even built. */
  log?(line: Record<string, unknown>): void;
  /** Spans for sampled requests; absent when tracing is off. */
  tracer?: Tracer;
  appHost: string;
  appPort: number;
  /** Slow-client limits. */
  headersTimeoutMs: number;
  idleTimeoutMs: number;
  /** Plain HTTP/1.1 requests through the byte relay (default) or Node's HTTP server only. */
  http1Relay?: boolean;
}

/** The peer's SPIFFE ID, read once per connection: getPeerCertificate() is costly per request. */
const peers = new WeakMap<TLSSocket, string | undefined>();
function peerIdentity(socket: TLSSocket): string | undefined {
  if (!peers.has(socket)) peers.set(socket, (socket.getPeerCertificate().subjectaltname ?? '').split(', ').find((s) => s.startsWith('URI:'))?.slice(4));
  return peers.get(socket);
}

export class InboundListener {
  private readonly net: NetServer;
  private readonly tls: TlsServer;
  private readonly http: HttpServer;
  /** Node's path to the application (undici), made on first use. */
  private app: Pool | undefined;
  private readonly relayer: Http1Relay | undefined;
  private readonly appSockets = new SocketPool();
  private readonly appLimits: PoolLimits = { maxConnections: 1024, maxRequestsPerConnection: 0, idleTimeoutMs: 60_000, connectTimeoutMs: 10_000 };
  private readonly appConnector: Connector;
  /** HTTP/2 and gRPC from peers: one server for mTLS (ALPN h2) and cleartext (PERMISSIVE) sessions. */
  private readonly h2: H2Server;
  /** The h2c session to an application whose port speaks http2 or grpc. */
  private readonly appH2 = new H2Sessions();
  private open = 0;
  private readonly upgraded = new Set<Duplex>();

  constructor(private readonly deps: InboundDeps) {
    this.http = trackConnections(createHttpServer(clientLimits(deps), (req, res) => this.handle(req, res)));
    this.http.timeout = deps.idleTimeoutMs;
    this.http.on('clientError', answerClientError);
    this.http.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => this.upgrade(req, socket, head));
    this.appConnector = () => ({ socket: connectPlain(deps.appHost, deps.appPort), ready: 'connect' });
    this.h2 = new H2Server((stream, headers) => this.stream(stream, headers), (session) => deps.log?.({ direction: 'inbound', refused: 'HTTP/2 rapid reset: connection closed', peer: session.socket?.remoteAddress }), deps.idleTimeoutMs);
    this.relayer = deps.http1Relay !== false ? new Http1Relay((rr) => this.relay(rr), (s) => this.http.emit('connection', s), relayLimits(deps)) : undefined;
    const id = deps.identity();
    this.tls = createTlsServer({ cert: id.certPem, key: id.keyPem, ca: id.trustBundle, requestCert: true, rejectUnauthorized: true, ALPNProtocols: ['h2', 'http/1.1', MESH_TCP_ALPN], minVersion: 'TLSv1.2' });
    this.tls.on('secureConnection', (s: TLSSocket) => {
      if (s.alpnProtocol === MESH_TCP_ALPN || this.appIsTcp()) this.tcp(s, peerIdentity(s));
      else if (s.alpnProtocol === 'h2') this.h2.accept(s);
      else this.toHttp(s);
    });
    // A peer without a valid mesh certificate, or plaintext under STRICT: the handshake fails and the connection ends.
    this.tls.on('tlsClientError', (_err: Error, socket: TLSSocket) => socket.destroy());
    this.net = createNetServer((socket) => this.sniff(socket));
  }

  listen(port: number, host: string): Promise<number> {
    return new Promise((resolve, reject) => {
      this.net.once('error', reject);
      this.net.listen(port, host, () => resolve((this.net.address() as { port: number }).port));
    });
  }

  /** A renewed certificate or rotated root serves new handshakes; open connections keep theirs. */
  setIdentity(id: IdentityMaterial): void {
    this.tls.setSecureContext({ cert: id.certPem, key: id.keyPem, ca: id.trustBundle, minVersion: 'TLSv1.2' });
  }

  /** Connections still open (after drain: those finishing a request). */
  openConnections(): number {
    return this.open;
  }

  /** Stop accepting; open keep-alive connections close after their current request. */
  drain(): void {
    this.net.close();
    this.http.closeIdleConnections();
    this.relayer?.drain();
    this.h2.drain();
  }

  close(): void {
    this.drain();
    this.http.closeAllConnections();
    for (const s of this.upgraded) s.destroy();
    this.relayer?.close();
    this.h2.close();
    this.appH2.close();
    this.appSockets.close();
    void this.app?.destroy().catch(() => undefined);
  }

  private sniff(socket: Socket): void {
    this.open++;
    socket.once('close', () => this.open--);
    socket.setNoDelay(true);
    socket.on('error', () => socket.destroy());
    if (this.deps.config()?.snapshot.inbound.ports[0]?.mtlsMode === 'STRICT') {
      // Only TLS is allowed: hand the untouched socket to TLS, which then runs on the native
      // handle. Peeking at a byte (below) leaves TLS on a slower JavaScript stream wrapper.
      this.tls.emit('connection', socket);
      return;
    }
    socket.once('data', (first: Buffer) => {
      socket.pause();
      socket.unshift(first);
      const port = this.deps.config()?.snapshot.inbound.ports[0];
      if (first[0] === 0x16) this.tls.emit('connection', socket);
      else if (port?.mtlsMode !== 'STRICT' && isH2Preface(first)) this.h2.accept(socket);
      else if (port?.mtlsMode === 'STRICT') {
        // STRICT: plaintext is refused before any byte reaches the application.
        socket.destroy();
        this.deps.log?.({ direction: 'inbound', refused: 'plaintext connection under STRICT mTLS', peer: socket.remoteAddress });
        return;
      } else if (this.appIsTcp() || (port?.protocol === 'auto' && !looksLikeHttp1(first))) {
        // Stays paused until the application's connection is open (tcp() then pipes it).
        return this.tcp(socket, undefined);
      } else this.toHttp(socket);
      process.nextTick(() => socket.resume());
    });
  }

  private appPool(): Pool {
    const host = this.deps.appHost.includes(':') ? `[${this.deps.appHost}]` : this.deps.appHost;
    this.app ??= new (undici().Pool)(`http://${host}:${this.deps.appPort}`, { connections: 1024, pipelining: 1, keepAliveTimeout: 60_000, headersTimeout: 0, bodyTimeout: 0 });
    return this.app;
  }

  /** An HTTP connection: to the relay, which hands over to Node's HTTP server what it does not take. */
  private toHttp(socket: Socket): void {
    if (this.relayer) this.relayer.accept(socket);
    else this.http.emit('connection', socket);
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const started = performance.now();
    const cfg = this.deps.config();
    const me = cfg?.snapshot.proxy;
    const tlsSocket = req.socket as TLSSocket;
    const peer = tlsSocket.encrypted ? peerIdentity(tlsSocket) : undefined;
    const labels = inboundLabels(cfg, peer);
    let span: ActiveSpan | undefined;
    const finish = (status: number, flags: string, resBytes: number, extra?: Record<string, unknown>) => this.record(req, labels, started, span, peer, status, flags, resBytes, extra);
    const local = (status: number, flags: string, body: string, extra?: Record<string, unknown>) => {
      res.writeHead(status, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body), 'x-mesh-response-flags': flags });
      res.end(body);
      finish(status, flags, Buffer.byteLength(body), extra);
    };
    const verdict = this.admit(req, peer);
    if (verdict.kind === 'close') return void req.socket.destroy();
    if (verdict.kind === 'refuse') return local(verdict.status, verdict.flags, verdict.body, verdict.extra);
    // Local rate limit (after authentication and authorization, as Envoy's filter chain has it).
    const limited = this.rateLimited(req, verdict.forwardPath);
    if (limited) return local(429, 'RL', 'local_rate_limited\n', { policy: limited });
    const { forwardPath, headers } = verdict;
    // The server span; the application sees it as the parent in `traceparent`.
    span = this.deps.tracer?.begin('server', `${req.headers.host ?? me?.service ?? ''}/*`, req.headers, headers);
    const hasBody = req.headers['content-length'] !== undefined ? req.headers['content-length'] !== '0' : req.headers['transfer-encoding'] !== undefined;
    void callUpstream(this.appPool(), { method: req.method ?? 'GET', path: forwardPath, headers, body: hasBody ? req : null, timeoutMs: Infinity }, res, (_status, h) => forwardableHeaders(h)).then((outcome) => {
      if (outcome.relayed) return finish(outcome.status, '-', outcome.bytes);
      if (res.headersSent) {
        res.destroy();
        return finish(outcome.status, 'UPE', outcome.bytes);
      }
      local(503, 'UF', `the application did not answer: ${outcome.error?.message ?? 'connection failed'}\n`);
    });
  }
  /** The same decisions on the HTTP/1.1 relay: the request and the answer pass as bytes. */
  private async relay(rr: RelayRequest): Promise<RelayVerdict> {
    const { head, body, socket, closeAfter } = rr;
    const started = performance.now();
    const cfg = this.deps.config();
    const me = cfg?.snapshot.proxy;
    const peer = (socket as TLSSocket).encrypted ? peerIdentity(socket as TLSSocket) : undefined;
    const req: RequestView = { method: head.method, url: head.target, headers: head.headers, socket };
    const labels = inboundLabels(cfg, peer);
    let span: ActiveSpan | undefined;
    const finish = (status: number, flags: string, resBytes: number, extra?: Record<string, unknown>) => this.record(req, labels, started, span, peer, status, flags, resBytes, extra);
    const local = (status: number, flags: string, text: string, extra?: Record<string, unknown>): RelayVerdict => {
      socket.write(localResponseText(status, STATUS_CODES[status] ?? '', flags, text, closeAfter));
      finish(status, flags, Buffer.byteLength(text), extra);
      return closeAfter ? 'close' : 'done';
    };
    const verdict = this.admit(req, peer);
    if (verdict.kind === 'close') {
      socket.destroy();
      return 'close';
    }
    if (verdict.kind === 'refuse') return local(verdict.status, verdict.flags, verdict.body, verdict.extra);
    const limited = this.rateLimited(req, verdict.forwardPath);
    if (limited) return local(429, 'RL', 'local_rate_limited\n', { policy: limited });
    const { forwardPath, headers } = verdict;
    span = this.deps.tracer?.begin('server', `${head.headers.host ?? me?.service ?? ''}/*`, head.headers, headers);
    const request = { head: requestHeadText(head.method, forwardPath, headers), body, isHead: head.method === 'HEAD', timeoutMs: Infinity };
    // A kept-alive connection the application closed a moment ago fails before any answer:
    // such a request is sent once more on a new connection (nothing of it was processed).
    for (let attempt = 0; ; attempt++) {
      let app: Duplex;
      try {
        app = await this.appSockets.acquire('app', this.appLimits, this.appConnector);
      } catch (err) {
        return local(503, 'UF', `the application did not answer: ${(err as Error).message}\n`);
      }
      const reused = this.appSockets.wasUsed(app);
      const outcome = await exchange(app, request, socket, (h) => responseHeadText(h, responseHeaderMap(h), closeAfter || h.framing.type === 'close'));
      this.appSockets.release(app, outcome.reusable, this.appLimits);
      if (outcome.relayed && !outcome.error) {
        finish(outcome.status, '-', outcome.bytes);
        return closeAfter || outcome.closeDownstream ? 'close' : 'done';
      }
      if (outcome.relayed) {
        socket.destroy();
        finish(outcome.status, 'UPE', outcome.bytes);
        return 'close';
      }
      if (socket.destroyed) {
        finish(0, 'DC', 0);
        return 'close';
      }
      if (outcome.protocolError) return local(502, 'UPE', `the application's answer is not valid HTTP/1.1: ${outcome.error?.message}\n`);
      if (reused && attempt === 0 && !outcome.timedOut) continue;
      return local(503, 'UF', `the application did not answer: ${outcome.error?.message ?? 'connection failed'}\n`);
    }
  }

  /** HTTP/2 and gRPC streams: the same decisions, then to the application over h2c or HTTP/1.1. */
  private stream(stream: ServerHttp2Stream, headers: IncomingHttpHeaders2): void {
    const started = performance.now();
    const cfg = this.deps.config();
    const me = cfg?.snapshot.proxy;
    const socket = stream.session?.socket as TLSSocket | undefined;
    const peer = socket?.encrypted ? peerIdentity(socket) : undefined;
    const req = streamRequest(stream, headers);
    const grpc = isGrpc(headers);
    const labels = inboundLabels(cfg, peer);
    labels.request_protocol = grpc ? 'grpc' : 'http';
    let span: ActiveSpan | undefined;
    const finish = (status: number, flags: string, resBytes: number, extra?: Record<string, unknown>) => this.record(req, labels, started, span, peer, status, flags, resBytes, extra);
    const local = (status: number, flags: string, text: string, extra?: Record<string, unknown>) => {
      localAnswer(stream, grpc, status, flags, text);
      if (grpc) labels.grpc_response_status = String(grpcCodeFor(status));
      finish(grpc ? 200 : status, flags, Buffer.byteLength(text), extra);
    };
    const verdict = this.admit(req, peer);
    if (verdict.kind === 'close') return void stream.close(h2constants.NGHTTP2_REFUSED_STREAM);
    if (verdict.kind === 'refuse') return local(verdict.status, verdict.flags, verdict.body, verdict.extra);
    const limited = this.rateLimited(req, verdict.forwardPath);
    if (limited) return local(429, 'RL', 'local_rate_limited\n', { policy: limited });
    span = this.deps.tracer?.begin('server', `${req.headers.host ?? me?.service ?? ''}/*`, req.headers, verdict.headers);
    const method = req.method ?? 'GET';
    const protocol = cfg?.snapshot.inbound.ports[0]?.protocol;
    if (protocol === 'http2' || protocol === 'grpc') {
      const host = this.deps.appHost.includes(':') ? `[${this.deps.appHost}]` : this.deps.appHost;
      let up: ClientHttp2Stream;
      const cancel = new AbortController();
      try {
        up = this.appH2.get('app', `http://${host}:${this.deps.appPort}`).request(nextHopHeaders(method, verdict.forwardPath, verdict.headers, headers.te), { signal: cancel.signal });
      } catch (err) {
        return local(503, 'UF', `the application did not answer: ${(err as Error).message}\n`);
      }
      let responded = false;
      forwardBody(stream, up, cancel);
      up.once('response', (head) => {
        responded = true;
        void relayAnswer(stream, up, cancel, head, () => undefined).then((r) => {
          labels.grpc_response_status = r.grpcStatus;
          finish(r.status, r.broken ? 'UPE' : '-', r.bytes);
        });
      });
      up.once('error', (err: Error) => {
        if (!responded) local(503, 'UF', `the application did not answer: ${err.message}\n`);
      });
      return;
    }
    // An HTTP/1.1 application behind an HTTP/2 caller: the stream becomes one request.
    const { host: _host, ...rest } = verdict.headers;
    this.appPool()
      .request({ method: method as 'GET', path: verdict.forwardPath, headers: { ...rest, host: String(req.headers.host ?? '') } as Record<string, string>, body: method === 'GET' || method === 'HEAD' ? null : stream })
      .then((res) => {
        if (stream.destroyed) return void res.body.dump();
        stream.respond({ ':status': res.statusCode, ...responseHeaders(res.headers as IncomingHttpHeaders2 & IncomingHttpStatusHeader) });
        let bytes = 0;
        res.body.on('data', (c: Buffer) => (bytes += c.length));
        res.body.pipe(stream);
        res.body.once('end', () => finish(res.statusCode, '-', bytes));
        res.body.once('error', () => {
          stream.close(h2constants.NGHTTP2_INTERNAL_ERROR);
          finish(res.statusCode, 'UPE', bytes);
        });
      })
      .catch((err: Error) => local(503, 'UF', `the application did not answer: ${err.message}\n`));
  }

  /**
   * The LocalRateLimit decision for a request that passed authorization, on the normalised path
   * (as authorization decides), so that `//x` or `/%78` cannot slip past a limit on `/x`.
   */
  private rateLimited(req: RequestView, normalisedTarget: string): string | undefined {
    const cfg = this.deps.config();
    if (!cfg?.snapshot.inbound.rateLimit) return undefined;
    const url = splitTarget(normalisedTarget);
    const authority = String(req.headers.host ?? '');
    return cfg.rateLimited({ method: req.method ?? 'GET', path: url.pathname, query: url.searchParams, headers: req.headers, authority, scheme: 'http', port: this.deps.appPort }, performance.now());
  }

  private record(req: RequestView, labels: IstioLabels, started: number, span: ActiveSpan | undefined, peer: string | undefined, status: number, flags: string, resBytes: number, extra: Record<string, unknown> = {}): void {
    labels.response_code = String(status);
    labels.response_flags = flags;
    const ms = performance.now() - started;
    if (span) this.deps.tracer!.end(span, status, { 'http.method': req.method ?? '', 'http.url': `http://${req.headers.host ?? ''}${req.url ?? ''}`, peer_principal: peer ?? '', response_flags: flags, guid: String(req.headers['x-request-id'] ?? ''), node_id: this.deps.config()?.snapshot.proxy.id ?? '' });
    this.deps.metrics.record(labels, ms, Number(req.headers['content-length'] ?? 0), resBytes);
    this.deps.log?.({ direction: 'inbound', method: req.method, path: req.url, status, flags, duration_ms: Math.round(ms * 1000) / 1000, source_principal: peer, request_id: req.headers['x-request-id'], ...extra });
  }

  private appIsTcp(): boolean {
    return this.deps.config()?.snapshot.inbound.ports[0]?.protocol === 'tcp';
  }

  /** Raw TCP to the application: connection-level authorization (who, which port), then bytes. */
  private tcp(socket: Duplex, peer: string | undefined): void {
    const cfg = this.deps.config();
    const me = cfg?.snapshot.proxy;
    const labels: TcpLabels = {
      reporter: 'destination',
      source_workload: /\/sa\/([^/]+)$/.exec(peer ?? '')?.[1] ?? 'unknown',
      source_principal: peer ?? 'unknown',
      destination_service_name: me?.service ?? 'unknown',
      destination_version: me?.labels.version ?? 'unknown',
      destination_principal: me?.identity ?? 'unknown',
      connection_security_policy: peer ? 'mutual_tls' : 'none',
      response_flags: '-',
    };
    const decision = cfg ? authorize(cfg.snapshot.inbound.authorization, { peerIdentity: peer, sourceIp: (socket as TLSSocket).remoteAddress ?? '', host: '', port: this.deps.appPort, method: '', path: '', headers: {} }) : { allowed: false, policy: 'no configuration' };
    if (!decision.allowed) {
      this.deps.metrics.tcpOpened.inc({ ...labels, response_flags: 'RBAC' });
      this.deps.metrics.tcpClosed.inc({ ...labels, response_flags: 'RBAC' });
      this.deps.log?.({ direction: 'inbound', protocol: 'tcp', refused: 'RBAC: access denied', policy: decision.policy, source_principal: peer });
      return void socket.destroy();
    }
    const app = connectPlain(this.deps.appHost, this.deps.appPort);
    app.once('connect', () => {
      this.deps.metrics.tcpOpened.inc(labels);
      count(this.deps.metrics, labels, socket, app);
      splice(socket, app, this.upgraded, () => this.deps.metrics.tcpClosed.inc(labels));
    });
    app.once('error', () => socket.destroy());
  }

  /**
   * The inbound decisions every request gets, upgraded or not: mTLS mode, path normalisation,
   * JWT, authorization. Returns the path and headers to forward, or how to refuse.
   */
  private admit(req: RequestView, peer: string | undefined): Verdict {
    const cfg = this.deps.config();
    if (!cfg) return { kind: 'refuse', status: 503, flags: 'NC', body: 'the sidecar has no configuration yet\n' };
    if (!peer && cfg.snapshot.inbound.ports[0]?.mtlsMode === 'STRICT') {
      // A plaintext connection opened while the mode was PERMISSIVE: STRICT now, so it ends here.
      this.deps.log?.({ direction: 'inbound', refused: 'plaintext request under STRICT mTLS', peer: req.socket.remoteAddress });
      return { kind: 'close' };
    }
    const rawTarget = req.url ?? '/';
    const q = rawTarget.indexOf('?');
    const normal = normalisePath(q === -1 ? rawTarget : rawTarget.slice(0, q));
    if (!normal.path) return { kind: 'refuse', status: 400, flags: 'DPE', body: `bad request path: ${normal.reason}\n` };
    const jwt = authenticateJwt(cfg.snapshot.inbound.jwtRules, req.headers, new URLSearchParams(q === -1 ? '' : rawTarget.slice(q + 1)), this.deps.jwks.keys, Date.now() / 1000);
    if (jwt.error) return { kind: 'refuse', status: 401, flags: '-', body: `${jwt.error}\n` };
    const decision = authorize(cfg.snapshot.inbound.authorization, {
      peerIdentity: peer,
      requestPrincipal: jwt.principal,
      claims: jwt.claims,
      sourceIp: req.socket.remoteAddress ?? '',
      host: req.headers.host ?? '',
      port: this.deps.appPort,
      method: req.method ?? 'GET',
      path: normal.path,
      headers: req.headers,
    });
    if (!decision.allowed) return { kind: 'refuse', status: 403, flags: 'RBAC', body: 'RBAC: access denied\n', extra: { policy: decision.policy } };
    const headers = forwardableHeaders(req.headers);
    if (jwt.rule && jwt.location?.header && !jwt.rule.forwardOriginalToken) delete headers[jwt.location.header];
    if (jwt.rule?.outputPayloadToHeader && jwt.claims) headers[jwt.rule.outputPayloadToHeader.toLowerCase()] = Buffer.from(JSON.stringify(jwt.claims)).toString('base64url');
    // Tell the application who called, as Envoy's XFCC does; never trust one the caller sent.
    delete headers['x-forwarded-client-cert'];
    if (peer) headers['x-forwarded-client-cert'] = `By=${cfg.snapshot.proxy.identity};URI=${peer}`;
    return { kind: 'forward', forwardPath: normal.path + (q === -1 ? '' : rawTarget.slice(q)), headers, removeHeader: jwt.rule && !jwt.rule.forwardOriginalToken ? jwt.location?.header : undefined };
  }

  /** WebSocket and other upgrades: the same decisions, then a byte pipe to the application. */
  private upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const tlsSocket = req.socket as TLSSocket;
    const peer = tlsSocket.encrypted ? peerIdentity(tlsSocket) : undefined;
    const verdict = this.admit(req, peer);
    if (verdict.kind === 'close') return void socket.destroy();
    if (verdict.kind === 'refuse') return refuseUpgrade(socket, verdict.status, verdict.body.trim(), verdict.flags);
    const app = connectPlain(this.deps.appHost, this.deps.appPort);
    const extra: [string, string][] = typeof verdict.headers['x-forwarded-client-cert'] === 'string' ? [['x-forwarded-client-cert', verdict.headers['x-forwarded-client-cert']]] : [];
    app.once('connect', () => {
      app.write(requestHead(req, verdict.forwardPath, req.headers.host ?? '', extra, verdict.removeHeader));
      if (head.length > 0) app.write(head);
      splice(socket, app, this.upgraded, () => this.deps.log?.({ direction: 'inbound', upgrade: req.headers.upgrade, path: verdict.forwardPath, source_principal: peer, closed: true }));
    });
    app.once('error', (err) => refuseUpgrade(socket, 503, `the application did not answer: ${err.message}`, 'UF'));
  }
}

/** The labels of an inbound request: the caller from its certificate, the destination is this proxy. */
function inboundLabels(cfg: RuntimeConfig | undefined, peer: string | undefined): IstioLabels {
  const me = cfg?.snapshot.proxy;
  return {
    reporter: 'destination',
    source_workload: /\/sa\/([^/]+)$/.exec(peer ?? '')?.[1] ?? 'unknown',
    source_principal: peer ?? 'unknown',
    destination_service_name: me?.service ?? 'unknown',
    destination_workload: me?.service ?? 'unknown',
    destination_version: me?.labels.version ?? 'unknown',
    destination_principal: me?.identity ?? 'unknown',
    request_protocol: 'http',
    response_code: '0',
    grpc_response_status: '',
    response_flags: '-',
    connection_security_policy: peer ? 'mutual_tls' : 'none',
  };
}

type Verdict =
  | { kind: 'forward'; forwardPath: string; headers: OutgoingHttpHeaders; removeHeader?: string }
  | { kind: 'refuse'; status: number; flags: string; body: string; extra?: Record<string, unknown> }
  | { kind: 'close' };
