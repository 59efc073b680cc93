// HTTP/2 and gRPC at the server sidecar when the application speaks HTTP/2 too: the peer's
// streams relayed frame by frame to one h2c connection to the application, on core/h2's
// connection state (no Node Http2Stream per call: about a quarter of the CPU per gRPC call,
// bench/node-baselines.ts). Every stream gets the decisions every inbound request gets
// (InboundPolicy: authentication, authorization, the request's headers), its answer is relayed
// with back-pressure both ways, and it is recorded as on every other path. An application that
// speaks HTTP/1.1 behind an HTTP/2 caller stays on Node's path (inbound-h2.ts).
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import type { HeaderField } from '../../core/h2/hpack.js';
import { noAnswer } from '../attempt-outcome.js';
import { inboundLabels, peerIdentity, type InboundPolicy, type Verdict } from '../inbound-policy.js';
import type { IstioLabels } from '../metrics.js';
import type { RequestView } from '../outbound-route.js';
import { whenDone, type LocalReply } from '../pipeline/filter.js';
import { applicationFailure } from '../pipeline/local-replies.js';
import { RESPONSE_FLAGS, type ResponseFlag } from '../pipeline/response-flags.js';
import type { RuntimeConfig } from '../runtime-config.js';
import type { ActiveSpan, Tracer } from '../tracer.js';
import { connectPlain } from '../upgrade.js';
import { FrameLink } from './frame-link.js';
import { FrameServerLinks } from './frame-server-links.js';
import { headerFields, localReplyFields, requestFromFields } from './frame-heads.js';
import { isGrpc, nextHopHeaders } from './streams.js';

export interface InboundFramesContext {
  policy: InboundPolicy;
  deps: { config(): RuntimeConfig | undefined; tracer?: Tracer; appHost: string; appPort: number };
  /** A peer's connection closed for abuse (rapid reset, a flood). */
  onAbuse(socket: Duplex, reason: string): void;
  idleTimeoutMs: number;
}

/** The peer's connection limits, as the Node path's (guard.ts). */
const MAX_CONCURRENT_STREAMS = 256;

/** A peer's connection: its identity (over mTLS) and its socket's addresses. */
interface Origin {
  peer: string | undefined;
  addresses: RequestView['socket'];
}

/** One stream of a peer: the request, what became of it, and the two ends it joins. */
interface Call {
  down: FrameLink;
  stream: number;
  req: RequestView;
  labels: IstioLabels;
  peer: string | undefined;
  grpc: boolean;
  started: number;
  span: ActiveSpan | undefined;
  app: FrameLink | undefined;
  upId: number;
  /** Request body that came before the application's stream was open. */
  pending: { chunk: Buffer; end: boolean; trailers?: HeaderField[] }[];
  /** Body bytes passed on and not yet credited back to their sender (the other side had no window). */
  heldDown: number;
  heldUp: number;
  status: number;
  grpcStatus: string;
  bytes: number;
  answered: boolean;
  done: boolean;
}

export class InboundFrames {
  private readonly peers: FrameServerLinks;
  /** Calls by peer connection and stream, and by application connection and stream. */
  private readonly byDown = new Map<FrameLink, Map<number, Call>>();
  private readonly byApp = new Map<FrameLink, Map<number, Call>>();
  private app: FrameLink | undefined;

  constructor(private readonly ctx: InboundFramesContext) {
    this.peers = new FrameServerLinks(ctx.idleTimeoutMs);
  }

  accept(socket: Duplex): void {
    const calls = new Map<number, Call>();
    // Who is calling and over which addresses: the same for every stream of the connection.
    const tls = socket as Partial<TLSSocket>;
    const origin: Origin = {
      peer: tls.encrypted ? peerIdentity(tls as TLSSocket) : undefined,
      addresses: { remoteAddress: tls.remoteAddress, remotePort: tls.remotePort, localAddress: tls.localAddress, localPort: tls.localPort },
    };
    const link: FrameLink = new FrameLink(
      socket,
      { role: 'server', maxConcurrentStreams: MAX_CONCURRENT_STREAMS },
      {
        headers: (stream, fields, end, role) => (role === 'request' ? this.request(link, origin, stream, fields, end) : this.trailersFromPeer(calls.get(stream), fields)),
        data: (stream, chunk, end) => this.bodyFromPeer(link, stream, calls.get(stream), chunk, end),
        reset: (stream) => this.peerReset(calls.get(stream)),
        goaway: () => undefined,
        writable: (stream) => this.peerWritable(calls.get(stream)),
        drained: () => {
          for (const call of calls.values()) this.peerWritable(call);
        },
        gone: (err) => {
          this.peers.delete(link);
          this.byDown.delete(link);
          if (err?.code === 'ENHANCE_YOUR_CALM') this.ctx.onAbuse(socket, err.message);
          for (const call of calls.values()) this.peerReset(call);
          calls.clear();
        },
      },
    );
    this.peers.add(link, socket);
    this.byDown.set(link, calls);
  }

  /** No new streams (GOAWAY); open ones finish, then their connections close. */
  drain(): void {
    this.peers.drain();
  }

  close(): void {
    this.peers.close();
    for (const link of this.byApp.keys()) link.socket.destroy();
  }

  private request(down: FrameLink, { peer, addresses }: Origin, stream: number, fields: HeaderField[], end: boolean): void {
    const req = requestFromFields(fields, addresses);
    const headers = req.headers as Record<string, string>;
    const cfg = this.ctx.deps.config();
    const labels = inboundLabels(cfg, peer, req.headers);
    const grpc = isGrpc(headers);
    labels.request_protocol = grpc ? 'grpc' : 'http';
    const call: Call = {
      down,
      stream,
      req,
      labels,
      peer,
      grpc,
      started: performance.now(),
      span: undefined,
      app: undefined,
      upId: 0,
      pending: end ? [{ chunk: Buffer.alloc(0), end: true }] : [],
      heldDown: 0,
      heldUp: 0,
      status: 0,
      grpcStatus: '',
      bytes: 0,
      answered: false,
      done: false,
    };
    this.byDown.get(down)?.set(stream, call);
    whenDone(this.ctx.policy.admit(req, peer), (verdict) => this.decided(call, verdict));
  }

  private decided(call: Call, verdict: Verdict): void {
    if (call.done) return;
    if (verdict.kind === 'close') {
      call.down.conn.reset(call.stream, 'REFUSED_STREAM');
      return this.forget(call);
    }
    if (verdict.kind === 'refuse') return this.localReply(call, verdict.reply);
    const me = this.ctx.deps.config()?.snapshot.proxy;
    call.span = this.ctx.deps.tracer?.begin('server', `${call.req.headers.host ?? me?.service ?? ''}/*`, call.req.headers, verdict.headers);
    const app = this.appLink();
    if (!app) return this.localReply(call, applicationFailure(noAnswer(new Error('no connection to the application'))));
    call.app = app;
    const pending = call.pending;
    call.pending = [];
    const endsNow = pending.length > 0 && pending[pending.length - 1].end && pending.every((p) => p.chunk.length === 0 && !p.trailers);
    call.upId = app.conn.request(this.requestFields(call, verdict), endsNow);
    this.byApp.get(app)?.set(call.upId, call);
    if (!endsNow)
      for (const p of pending) {
        if (p.trailers) this.trailersFromPeer(call, p.trailers);
        else this.bodyFromPeer(call.down, call.stream, call, p.chunk, p.end);
      }
  }

  /** The request's head for the application, as Node's path builds it (nextHopHeaders), as header fields. */
  private requestFields(call: Call, verdict: Extract<Verdict, { kind: 'forward' }>): HeaderField[] {
    return headerFields(nextHopHeaders(call.req.method ?? 'GET', verdict.forwardPath, verdict.headers, call.req.headers.te));
  }

  /** The h2c connection to the application, opened on first use and again after it is lost or full. */
  private appLink(): FrameLink | undefined {
    if (this.app && !this.app.closed && this.app.conn.canOpen()) return this.app;
    let socket: Duplex;
    try {
      socket = connectPlain(this.ctx.deps.appHost, this.ctx.deps.appPort);
    } catch {
      return undefined;
    }
    const calls = new Map<number, Call>();
    const link: FrameLink = new FrameLink(
      socket,
      { role: 'client' },
      {
        headers: (id, fields, end, role) => this.answerHeaders(calls.get(id), fields, end, role),
        data: (id, chunk, end) => {
          const call = calls.get(id);
          if (!call || call.done) link.conn.consumed(id, chunk.length);
          else this.answerBody(call, chunk, end);
        },
        reset: (id) => this.appReset(calls.get(id)),
        // Streams above the last one the application processed end as refused (the codec resets
        // them): answered at once, 503 or UNAVAILABLE, not left to the caller's deadline.
        goaway: () => {
          if (this.app === link) this.app = undefined;
        },
        writable: (id) => this.appWritable(calls.get(id)),
        drained: () => {
          for (const call of calls.values()) this.appWritable(call);
        },
        gone: () => {
          if (this.app === link) this.app = undefined;
          this.byApp.delete(link);
          for (const call of calls.values()) this.appReset(call, new Error('the connection to the application closed'));
          calls.clear();
        },
      },
    );
    this.byApp.set(link, calls);
    this.app = link;
    return link;
  }

  // The peer's side of a call.

  private bodyFromPeer(down: FrameLink, stream: number, call: Call | undefined, chunk: Buffer, end: boolean): void {
    // Nobody wants it (the call was answered or refused): its bytes are given back at once.
    if (!call || call.done) return down.conn.consumed(stream, chunk.length);
    if (!call.app) {
      call.pending.push({ chunk, end });
      return;
    }
    // The end is passed on as it came, as Envoy does: END_STREAM says the request is complete,
    // even from a Node client that sends it before the RST_STREAM of a cancel (docs/data-path.md).
    this.toApp(call, chunk, end);
  }

  private toApp(call: Call, chunk: Buffer, end: boolean): void {
    // The peer gets its window back once the bytes are on their way: neither queued for want of
    // the application's window nor waiting in a socket the application is not reading.
    if (call.app!.conn.sendData(call.upId, chunk, end) && !call.app!.backlogged) call.down.conn.consumed(call.stream, chunk.length);
    else call.heldDown += chunk.length;
  }

  private trailersFromPeer(call: Call | undefined, fields: HeaderField[]): void {
    if (!call || call.done) return;
    // Trailers that come before the verdict wait with the body.
    if (!call.app) call.pending.push({ chunk: Buffer.alloc(0), end: true, trailers: fields });
    else call.app.conn.sendHeaders(call.upId, fields, true);
  }

  /** The application's stream took what was queued: the peer gets its window back. */
  private appWritable(call: Call | undefined): void {
    if (!call || call.heldDown === 0 || call.app?.backlogged) return;
    call.down.conn.consumed(call.stream, call.heldDown);
    call.heldDown = 0;
  }

  private peerReset(call: Call | undefined): void {
    if (!call || call.done) return;
    if (call.app) call.app.conn.reset(call.upId, 'CANCEL');
    this.finish(call, call.answered ? call.status : 0, RESPONSE_FLAGS.DOWNSTREAM_CONNECTION_TERMINATION);
  }

  // The application's side.

  private answerHeaders(call: Call | undefined, fields: HeaderField[], end: boolean, role: string): void {
    if (!call || call.done) return;
    if (role === 'response') {
      call.answered = true;
      call.status = Number(fields[0]?.name === ':status' ? fields[0].value : (fields.find((f) => f.name === ':status')?.value ?? 0));
    }
    const grpcStatus = fields.find((f) => f.name === 'grpc-status')?.value;
    if (grpcStatus !== undefined) call.grpcStatus = grpcStatus;
    call.down.conn.sendHeaders(call.stream, fields, end);
    if (end) this.finish(call, call.status, RESPONSE_FLAGS.NONE);
  }

  private answerBody(call: Call, chunk: Buffer, end: boolean): void {
    call.bytes += chunk.length;
    if (call.down.conn.sendData(call.stream, chunk, end) && !call.down.backlogged) call.app?.conn.consumed(call.upId, chunk.length);
    else call.heldUp += chunk.length;
    if (end) this.finish(call, call.status, RESPONSE_FLAGS.NONE);
  }

  private peerWritable(call: Call | undefined): void {
    if (!call || call.heldUp === 0 || call.down.backlogged) return;
    call.app?.conn.consumed(call.upId, call.heldUp);
    call.heldUp = 0;
  }

  private appReset(call: Call | undefined, err?: Error): void {
    if (!call || call.done) return;
    if (!call.answered) return this.localReply(call, applicationFailure(noAnswer(err ?? new Error('the application reset the stream'))));
    call.down.conn.reset(call.stream, 'INTERNAL_ERROR');
    this.finish(call, call.status, RESPONSE_FLAGS.UPSTREAM_PROTOCOL_ERROR);
  }

  // Endings.

  /** A local answer (localReplyParts: plain text, or a trailers-only gRPC status). */
  private localReply(call: Call, r: LocalReply): void {
    const wire = localReplyFields(call.grpc, r);
    call.grpcStatus = wire.grpcStatus;
    call.down.conn.sendHeaders(call.stream, wire.head, wire.body === undefined);
    if (wire.body !== undefined) call.down.conn.sendData(call.stream, wire.body, true);
    this.finish(call, wire.status, r.flags, Buffer.byteLength(r.body), r.details);
  }

  private finish(call: Call, status: number, flags: ResponseFlag, bytes = call.bytes, extra?: Record<string, unknown>): void {
    if (call.done) return;
    call.done = true;
    call.labels.grpc_response_status = call.grpcStatus;
    this.ctx.policy.record(call.req, call.labels, call.started, call.span, call.peer, status, flags, bytes, extra);
    this.forget(call);
  }

  private forget(call: Call): void {
    call.done = true;
    // Bytes passed on but not yet credited (the other side's window was full): their connections
    // get them back now, else each call that ends so would shrink its connection's window for good.
    if (call.heldUp > 0) call.app?.conn.consumed(call.upId, call.heldUp);
    if (call.heldDown > 0) call.down.conn.consumed(call.stream, call.heldDown);
    call.heldUp = call.heldDown = 0;
    for (const p of call.pending) if (p.chunk.length > 0) call.down.conn.consumed(call.stream, p.chunk.length);
    call.pending = [];
    // The answer came whole before the request ended (the application may have said so with
    // RST_STREAM NO_ERROR): the caller is told to stop sending, and what is left of the request
    // toward the application is cancelled.
    call.down.conn.stopPeerAfterAnswer(call.stream);
    if (call.app) call.app.conn.reset(call.upId, 'CANCEL');
    this.byDown.get(call.down)?.delete(call.stream);
    if (call.app) this.byApp.get(call.app)?.delete(call.upId);
    this.peers.streamEnded(call.down);
  }
}
