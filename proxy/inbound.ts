// The inbound side: one port that takes mTLS from other sidecars and, where PeerAuthentication
// is PERMISSIVE, plaintext too (told apart by the first byte: 0x16 starts a TLS handshake). After
// the handshake ALPN picks the path: HTTP/1.1 (the relay, inbound-relay.ts, or Node's HTTP
// server, here), HTTP/2 (h2/inbound-h2.ts) or raw TCP (here). Every request gets the same
// decisions (inbound-policy.ts) and goes to the application on its own port.
import { createServer as createHttpServer, type IncomingMessage, type OutgoingHttpHeaders, type Server as HttpServer, type ServerResponse } from 'node:http';
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { createServer as createTlsServer, type Server as TlsServer, type TLSSocket } from 'node:tls';
import type { Pool } from 'undici';
import { authorize } from '../core/policy/authz.js';
import { looksLikeHttp1 } from '../core/http1/request-head.js';
import { handleInboundStream } from './h2/inbound-h2.js';
import { H2Server, isH2Preface } from './h2/server.js';
import { H2Sessions } from './h2/sessions.js';
import { InboundFrames } from './h2/inbound-frames.js';
import { answerClientError, clientLimits, forwardableHeaders, trackConnections } from './http-util.js';
import type { IdentityMaterial } from './identity.js';
import { inboundLabels, InboundPolicy, peerIdentity, peerWorkload, type Verdict } from './inbound-policy.js';
import { emptyTcpLabels, setDestination, setDestinationService, setSource } from './istio-labels.js';
import { relayInbound } from './inbound-relay.js';
import type { JwksCache } from './jwks-cache.js';
import type { IstioLabels, ProxyMetrics } from './metrics.js';
import { Http1Relay } from './relay/downstream.js';
import { relayLimits } from './relay/limits.js';
import { SocketPool, type Connector, type PoolLimits } from './relay/socket-pool.js';
import type { RuntimeConfig } from './runtime-config.js';
import { count, MESH_TCP_ALPN } from './tcp.js';
import { firstBytes } from './first-bytes.js';
import type { ExtAuthzCall } from './pipeline/inbound/ext-authz.js';
import { reply, whenDone, type LocalReply } from './pipeline/filter.js';
import { applicationFailure } from './pipeline/local-replies.js';
import { RESPONSE_FLAGS, type ResponseFlag } from './pipeline/response-flags.js';
import type { ActiveSpan, Tracer } from './tracer.js';
import { undici } from './undici-lazy.js';
import { callUpstream } from './upstream-call.js';
import { tcpEntry, type AccessLog } from './access-log.js';
import { envoyClusterName } from '../core/access-log/entry.js';
import { carryUpgrade, connectPlain, refuseUpgrade, resumeAsHttp, splice, upgradeKind, upgradeRequestHead, withoutUpgrade, type UpgradeKind } from './upgrade.js';

export interface InboundDeps {
  config(): RuntimeConfig | undefined;
  jwks: JwksCache;
  identity(): IdentityMaterial;
  metrics: ProxyMetrics;
  /** Notices about connections refused or closed (the sidecar's own log). */
  log?(line: Record<string, unknown>): void;
  /** The access log (Istio's JSON lines); absent when it is off. */
  accessLog?: AccessLog;
  /** Spans for sampled requests; absent when tracing is off. */
  tracer?: Tracer;
  appHost: string;
  appPort: number;
  /** Slow-client limits. */
  headersTimeoutMs: number;
  idleTimeoutMs: number;
  /** How long a plaintext peer may stay silent before it is carried as TCP, where the port may be TCP. */
  protocolDetectionTimeoutMs: number;
  /** Plain HTTP/1.1 requests through the byte relay (default) or Node's HTTP server only. */
  http1Relay?: boolean;
  /** HTTP/2 to an application that speaks it relayed frame by frame (default), or through Node's http2 streams. */
  h2Relay?: boolean;
  /** Sends AuthorizationPolicy CUSTOM checks to their provider. */
  extAuthz?: ExtAuthzCall;
  /** Where dry-run authorization decisions are logged. */
  notice?(line: Record<string, unknown>, message: string): void;
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
  /** HTTP/2 relayed frame by frame, where the application speaks it. */
  private readonly frames: InboundFrames | undefined;
  private readonly policy: InboundPolicy;
  private open = 0;
  private readonly upgraded = new Set<Duplex>();

  constructor(private readonly deps: InboundDeps) {
    this.policy = new InboundPolicy(deps);
    this.http = trackConnections(createHttpServer(clientLimits(deps), (req, res) => this.handle(req, res)));
    this.http.timeout = deps.idleTimeoutMs;
    this.http.on('clientError', answerClientError);
    this.http.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => this.upgrade(req, socket, head));
    this.appConnector = () => ({ socket: connectPlain(deps.appHost, deps.appPort), ready: 'connect' });
    this.h2 = new H2Server(
      (stream, headers) => handleInboundStream({ policy: this.policy, deps, appH2: this.appH2, appPool: () => this.appPool() }, stream, headers),
      (session) => deps.log?.({ direction: 'inbound', refused: 'HTTP/2 rapid reset: connection closed', peer: session.socket?.remoteAddress }),
      deps.idleTimeoutMs,
    );
    this.frames =
      deps.h2Relay !== false
        ? new InboundFrames({
            policy: this.policy,
            deps,
            idleTimeoutMs: deps.idleTimeoutMs,
            onAbuse: (socket, reason) => deps.log?.({ direction: 'inbound', refused: `HTTP/2: ${reason}: connection closed`, peer: (socket as Partial<Socket>).remoteAddress }),
          })
        : undefined;
    this.relayer =
      deps.http1Relay !== false
        ? new Http1Relay(
            (rr) => relayInbound(this.policy, deps, { sockets: this.appSockets, limits: this.appLimits, connect: this.appConnector }, rr),
            (s) => this.http.emit('connection', s),
            relayLimits(deps),
          )
        : undefined;
    const id = deps.identity();
    this.tls = createTlsServer({
      cert: id.certPem,
      key: id.keyPem,
      ca: id.trustBundle,
      requestCert: true,
      rejectUnauthorized: true,
      ALPNProtocols: ['h2', 'http/1.1', MESH_TCP_ALPN],
      minVersion: 'TLSv1.2',
    });
    this.tls.on('secureConnection', (s: TLSSocket) => {
      // A peer that resets between the handshake and whoever takes the socket costs its connection only.
      s.on('error', () => s.destroy());
      // The port's declaration decides, not the peer: bytes asked for as TCP (ALPN mesh-tcp) to a
      // port declared HTTP are read as HTTP, so that its request-level policy always applies.
      const protocol = this.deps.config()?.snapshot.inbound.ports[0]?.protocol;
      if (protocol === 'tcp' || (s.alpnProtocol === MESH_TCP_ALPN && (protocol === 'auto' || protocol === undefined))) this.tcp(s, peerIdentity(s));
      else if (s.alpnProtocol === 'h2') this.acceptH2(s);
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
    this.frames?.drain();
  }

  close(): void {
    this.drain();
    this.http.closeAllConnections();
    for (const s of this.upgraded) s.destroy();
    this.relayer?.close();
    this.h2.close();
    this.frames?.close();
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
    // A peer that sends nothing: a plaintext client of a server-first protocol (TLS clients speak
    // first) where the port may carry TCP, else an idle connection, closed.
    const mayBeTcp = this.appIsTcp() || this.deps.config()?.snapshot.inbound.ports[0]?.protocol === 'auto';
    firstBytes(socket, mayBeTcp ? this.deps.protocolDetectionTimeoutMs : this.deps.idleTimeoutMs, (first) => {
      if (!first) return mayBeTcp ? this.tcp(socket, undefined) : socket.destroy();
      socket.pause();
      socket.unshift(first);
      const port = this.deps.config()?.snapshot.inbound.ports[0];
      if (first[0] === 0x16) this.tls.emit('connection', socket);
      else if (port?.mtlsMode !== 'STRICT' && isH2Preface(first)) this.acceptH2(socket);
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

  /** HTTP/2 from a peer: frame by frame to an application that speaks it, else Node's streams (which also turn it into HTTP/1.1). */
  private acceptH2(socket: Duplex): void {
    const protocol = this.deps.config()?.snapshot.inbound.ports[0]?.protocol;
    if (this.frames && (protocol === 'http2' || protocol === 'grpc')) this.frames.accept(socket);
    else this.h2.accept(socket);
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
    const labels = inboundLabels(cfg, peer, req.headers);
    let span: ActiveSpan | undefined;
    const finish = (status: number, flags: ResponseFlag, resBytes: number, extra?: Record<string, unknown>) => this.policy.record(req, labels, started, span, peer, status, flags, resBytes, extra);
    // Node's path renders every local answer here.
    const sendLocalReply = (r: LocalReply) => {
      res.writeHead(r.status, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(r.body), 'x-mesh-response-flags': r.flags, ...r.headers });
      res.end(r.body);
      finish(r.status, r.flags, Buffer.byteLength(r.body), r.details);
    };
    const go = (verdict: Verdict) => {
      if (verdict.kind === 'close') return void req.socket.destroy();
      if (verdict.kind === 'refuse') return sendLocalReply(verdict.reply);
      // The server span; the application sees it as the parent in `traceparent`.
      span = this.deps.tracer?.begin('server', `${req.headers.host ?? me?.service ?? ''}/*`, req.headers, verdict.headers);
      this.forward(req, res, verdict, finish, sendLocalReply);
    };
    whenDone(this.policy.admit(req, peer), go);
  }

  /** An admitted request to the application over Node's HTTP client. */
  private forward(
    req: IncomingMessage,
    res: ServerResponse,
    verdict: { forwardPath: string; headers: OutgoingHttpHeaders },
    finish: (status: number, flags: ResponseFlag, resBytes: number) => void,
    sendLocalReply: (r: LocalReply) => void,
  ): void {
    const { forwardPath, headers } = verdict;
    const hasBody = req.headers['content-length'] !== undefined ? req.headers['content-length'] !== '0' : req.headers['transfer-encoding'] !== undefined;
    void callUpstream(this.appPool(), { method: req.method ?? 'GET', path: forwardPath, headers, body: hasBody ? req : null, timeoutMs: Infinity }, res, (_status, h) => forwardableHeaders(h)).then(
      (outcome) => {
        if (outcome.relayed) return finish(outcome.status, RESPONSE_FLAGS.NONE, outcome.bytes);
        if (res.headersSent) {
          res.destroy();
          return finish(outcome.status, RESPONSE_FLAGS.UPSTREAM_PROTOCOL_ERROR, outcome.bytes);
        }
        sendLocalReply(applicationFailure(outcome));
      },
    );
  }
  private appIsTcp(): boolean {
    return this.deps.config()?.snapshot.inbound.ports[0]?.protocol === 'tcp';
  }

  /** Raw TCP to the application: connection-level authorization (who, which port), then bytes. */
  private tcp(socket: Duplex, peer: string | undefined): void {
    const cfg = this.deps.config();
    const me = cfg?.snapshot.proxy;
    // TCP carries no metadata exchange: the caller is what its certificate says.
    const labels = emptyTcpLabels('destination');
    setSource(labels, peerWorkload(peer, undefined), peer ?? 'unknown');
    if (cfg && me) {
      setDestination(labels, cfg.me, me.identity);
      setDestinationService(labels, me.service, me.namespace);
    }
    labels.connection_security_policy = peer ? 'mutual_tls' : 'none';
    const started = performance.now();
    const logClosed = (flags: string, failure?: string) => this.logTcp(socket, peer, started, flags, failure);
    const decision = cfg
      ? authorize(cfg.snapshot.inbound.authorization, {
          peerIdentity: peer,
          sourceIp: (socket as TLSSocket).remoteAddress ?? '',
          host: '',
          port: this.deps.appPort,
          method: '',
          path: '',
          headers: {},
          tcp: true,
        })
      : { allowed: false, policy: 'no configuration' };
    if (!decision.allowed) {
      this.deps.metrics.tcpOpened.inc({ ...labels, response_flags: 'RBAC' });
      this.deps.metrics.tcpClosed.inc({ ...labels, response_flags: 'RBAC' });
      this.deps.log?.({ direction: 'inbound', protocol: 'tcp', refused: 'RBAC: access denied', policy: decision.policy, source_principal: peer });
      logClosed(RESPONSE_FLAGS.RBAC_DENIED);
      return void socket.destroy();
    }
    const app = connectPlain(this.deps.appHost, this.deps.appPort);
    app.once('connect', () => {
      this.deps.metrics.tcpOpened.inc(labels);
      count(this.deps.metrics, labels, socket, app);
      splice(socket, app, this.upgraded, () => {
        this.deps.metrics.tcpClosed.inc(labels);
        logClosed(labels.response_flags);
      });
    });
    app.once('error', (err: Error) => {
      logClosed(RESPONSE_FLAGS.UPSTREAM_CONNECTION_FAILURE, err.message);
      socket.destroy();
    });
  }

  /** The access-log line of an inbound connection, when it has ended (or was refused). */
  private logTcp(socket: Duplex, peer: string | undefined, started: number, flags: string, failure?: string): void {
    const log = this.deps.accessLog;
    if (!log?.wants('server')) return;
    // A TLS socket (or, after protocol detection, the plain one) has byte counts and addresses.
    const s = socket as Duplex & Partial<Pick<Socket, 'bytesRead' | 'bytesWritten' | 'remoteAddress' | 'remotePort' | 'localAddress' | 'localPort'>>;
    const entry = tcpEntry({
      started,
      flags,
      bytesReceived: s.bytesRead ?? 0,
      bytesSent: s.bytesWritten ?? 0,
      upstreamHost: `${this.deps.appHost}:${this.deps.appPort}`,
      upstreamCluster: envoyClusterName('inbound', this.deps.appPort, undefined, ''),
      downstream: s,
      ...(failure ? { failure } : {}),
    });
    log.write('server', entry, { mtls: peer !== undefined, sourcePrincipal: peer });
  }

  /**
   * WebSocket upgrades: the same decisions as any request, then the request to the application;
   * a byte pipe only once it answers 101 (upgrade.ts). `Upgrade: h2c` is read as a plain request.
   */
  private upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const kind = upgradeKind(req);
    if (kind.kind === 'plain') return resumeAsHttp(this.http, socket, withoutUpgrade(req, head));
    const tlsSocket = req.socket as TLSSocket;
    const peer = tlsSocket.encrypted ? peerIdentity(tlsSocket) : undefined;
    // Recorded like any request (metrics, access log, span), when its answer is known.
    const record: UpgradeRecord = { started: performance.now(), labels: inboundLabels(this.deps.config(), peer, req.headers), span: undefined, peer };
    whenDone(this.policy.admit(req, peer), (v) => this.upgradeAdmitted(req, socket, head, kind, record, v));
  }

  private upgradeAdmitted(req: IncomingMessage, socket: Duplex, head: Buffer, kind: UpgradeKind, r: UpgradeRecord, verdict: Verdict): void {
    const finish = (status: number, flags: ResponseFlag, extra?: Record<string, unknown>) => this.policy.record(req, r.labels, r.started, r.span, r.peer, status, flags, 0, extra);
    // Upgrades render every local answer here (and close).
    const sendLocalReply = (lr: LocalReply) => {
      refuseUpgrade(socket, lr);
      finish(lr.status, lr.flags, lr.details);
    };
    if (verdict.kind === 'close') return void socket.destroy();
    if (verdict.kind === 'refuse') return sendLocalReply(verdict.reply);
    if (kind.kind !== 'tunnel') return sendLocalReply(reply(403, RESPONSE_FLAGS.NONE, `${kind.kind === 'refuse' ? kind.reason : 'not an upgrade'}\n`));
    r.span = this.deps.tracer?.begin('server', `${req.headers.host ?? ''}/*`, req.headers, verdict.headers);
    const app = connectPlain(this.deps.appHost, this.deps.appPort);
    const call = {
      client: socket,
      clientHead: head,
      upstream: app,
      ready: 'connect' as const,
      head: upgradeRequestHead(req.method ?? 'GET', verdict.forwardPath, verdict.headers, kind.protocol),
      method: req.method ?? 'GET',
      protocol: kind.protocol,
      resumeHttp: (s: Duplex, unread: Buffer) => resumeAsHttp(this.http, s, unread),
      open: this.upgraded,
    };
    void carryUpgrade(call, () => this.deps.log?.({ direction: 'inbound', upgrade: kind.protocol, path: verdict.forwardPath, source_principal: r.peer, closed: true })).then((o) => {
      if (o.status !== 0) return finish(o.status, RESPONSE_FLAGS.NONE, o.status === 101 ? { upgrade: kind.protocol } : undefined);
      sendLocalReply(applicationFailure(o));
    });
  }
}

interface UpgradeRecord {
  started: number;
  labels: IstioLabels;
  span: ActiveSpan | undefined;
  peer: string | undefined;
}
