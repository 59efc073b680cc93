// What both HTTP/2 handlers share: a request view over a stream's headers, header maps for the
// next hop, relaying an upstream stream's answer (headers, body, trailers) to the client's
// stream, and the gRPC facts telemetry wants.
import { constants, type ClientHttp2Stream, type IncomingHttpHeaders, type IncomingHttpStatusHeader, type OutgoingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import type { RequestView } from '../outbound-route.js';
import { grpcStatusForHttp } from '../../core/routing/grpc-status.js';
import type { AttemptOutcome } from '../attempt-outcome.js';
import type { LocalReply } from '../pipeline/filter.js';
import { headerMap } from '../../core/http1/header-ops.js';

/** Headers HTTP/2 forbids (RFC 9113 8.2.2), besides pseudo-headers, which are rebuilt per hop. */
const CONNECTION_SPECIFIC = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'host', 'http2-settings']);

/** A session's socket addresses, read once: every stream of the session shares them. */
const ADDRESSES = new WeakMap<object, RequestView['socket']>();

export function streamRequest(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): RequestView {
  const plain = headerMap<IncomingHttpHeaders>();
  for (const k in headers) if (k[0] !== ':') plain[k] = headers[k];
  plain.host = String(headers[':authority'] ?? headers.host ?? '');
  return { method: String(headers[':method'] ?? 'GET'), url: String(headers[':path'] ?? '/'), headers: plain, socket: addressesOf(stream), protocol: 'HTTP/2' };
}

function addressesOf(stream: ServerHttp2Stream): RequestView['socket'] {
  const session = stream.session;
  if (!session) return {};
  let known = ADDRESSES.get(session);
  if (known) return known;
  // The session's socket is a proxy that throws once the session has let go of it (a stream can
  // outlive its connection): its addresses are read while they can be.
  try {
    const s = session.socket;
    known = { remoteAddress: s.remoteAddress, remotePort: s.remotePort, localAddress: s.localAddress, localPort: s.localPort };
  } catch {
    return {}; // already let go of: no addresses to report
  }
  ADDRESSES.set(session, known);
  return known;
}

export function isGrpc(headers: IncomingHttpHeaders): boolean {
  return String(headers['content-type'] ?? '').startsWith('application/grpc');
}

/**
 * Request headers for the next hop: pseudo-headers from method, path and authority. `te` is
 * hop-by-hop and dropped by the header filters, but its one HTTP/2 value, `trailers` (which
 * gRPC sends and some gRPC servers require), is passed on from the caller's `te`.
 */
export function nextHopHeaders(method: string, path: string, headers: OutgoingHttpHeaders, callerTe?: string | string[]): OutgoingHttpHeaders {
  const out = headerMap<OutgoingHttpHeaders>();
  out[':method'] = method;
  out[':path'] = path;
  out[':scheme'] = 'http';
  out[':authority'] = String(headers.host ?? '');
  for (const k in headers) {
    const v = headers[k];
    if (v === undefined || k[0] === ':' || k === 'te' || CONNECTION_SPECIFIC.has(k)) continue;
    out[k] = v;
  }
  if (callerTe === 'trailers') out.te = 'trailers';
  return out;
}

/** An answer's headers without pseudo-headers and connection-specific ones. */
export function responseHeaders(h: IncomingHttpHeaders & IncomingHttpStatusHeader): OutgoingHttpHeaders {
  const out = headerMap<OutgoingHttpHeaders>();
  for (const k in h) {
    const v = h[k];
    if (k[0] !== ':' && v !== undefined && !CONNECTION_SPECIFIC.has(k)) out[k] = v;
  }
  return out;
}

/**
 * Passes the upstream's answer to the client: headers (edited by `edit`), body with
 * backpressure, and trailers. Resolves when the answer is complete or broken off.
 */
export function relayAnswer(
  down: ServerHttp2Stream,
  up: ClientHttp2Stream,
  /** Resets the upstream stream (the caller went away). */
  cancel: () => void,
  head: IncomingHttpHeaders & IncomingHttpStatusHeader,
  edit: (h: OutgoingHttpHeaders) => void,
  /** The answer's HEADERS frame ended the stream (the 'response' event's END_STREAM flag; `endAfterHeaders` is not yet set then). */
  endStream = false,
): Promise<AttemptOutcome> {
  return new Promise((resolve) => {
    const status = Number(head[':status']);
    const out = responseHeaders(head);
    edit(out);
    let grpcStatus = typeof head['grpc-status'] === 'string' ? head['grpc-status'] : '';
    let bytes = 0;
    let trailers: OutgoingHttpHeaders = {};
    let done = false;
    const finish = (broken: boolean) => {
      if (done) return;
      done = true;
      resolve({ status, relayed: true, timedOut: false, grpcStatus, bytes, protocolError: broken });
    };
    if (down.destroyed) {
      cancel();
      return finish(true);
    }
    if (endStream) {
      // Trailers-only (a gRPC status with no message): one HEADERS frame with END_STREAM, as it
      // came; gRPC clients read a status sent any other way as a call that ended without one.
      out[':status'] = status;
      down.respond(out, { endStream: true });
      up.resume();
      stopCallerAfterAnswer(down, cancel);
      return finish(false);
    }
    out[':status'] = status;
    down.respond(out, { waitForTrailers: true });
    down.once('wantTrailers', () => {
      down.sendTrailers(trailers);
      stopCallerAfterAnswer(down, cancel);
    });
    up.on('trailers', (t: IncomingHttpHeaders) => {
      trailers = responseHeaders(t as IncomingHttpHeaders & IncomingHttpStatusHeader);
      if (typeof t['grpc-status'] === 'string') grpcStatus = t['grpc-status'];
    });
    up.on('data', (c: Buffer) => {
      bytes += c.length;
      if (!down.write(c)) up.pause();
    });
    down.on('drain', () => up.resume());
    up.once('end', () => {
      down.end();
      finish(false);
    });
    up.once('close', () => {
      if (up.rstCode && up.rstCode !== constants.NGHTTP2_NO_ERROR && !done) {
        down.close(constants.NGHTTP2_INTERNAL_ERROR);
        finish(true);
      }
    });
    down.once('close', () => {
      if (!done) {
        cancel();
        finish(true);
      }
    });
  });
}

/**
 * The answer went whole while the caller is still sending its request: the caller is told to stop
 * without error (RST_STREAM NO_ERROR once the answer has gone: Node's close() ends the stream
 * first, as RFC 9113 8.1 allows a server that answered first), and the rest of the request
 * upstream is cancelled. Node's server does this itself only for streams nobody read from.
 */
function stopCallerAfterAnswer(down: ServerHttp2Stream, cancel: () => void): void {
  if (down.readableEnded || down.destroyed) return;
  cancel();
  // After the turn that sent the trailers (nghttp2 sends a reset ahead of HEADERS still queued),
  // as Node's own server closes such streams.
  setImmediate(() => {
    if (!down.readableEnded && !down.destroyed) down.close(constants.NGHTTP2_NO_ERROR);
  });
}

/**
 * What an HTTP/2 codec sends for a LocalReply, as Envoy's sendLocalReply: plain text, or for a
 * gRPC caller a trailers-only gRPC status (a redirect stays an HTTP answer, for it to be
 * followed). `body` undefined: the head ends the stream. `status` and `grpcStatus` are what
 * went on the wire, for the metric to say the same.
 */
export function localReplyParts(grpc: boolean, r: LocalReply): { status: number; grpcStatus: string; head: Record<string, string | number>; body: string | undefined } {
  if (grpc && (r.status < 300 || r.status >= 400)) {
    const grpcStatus = String(r.grpcStatus ?? grpcStatusForHttp(r.status));
    const head = { ...r.headers, ':status': 200, 'content-type': 'application/grpc', 'grpc-status': grpcStatus, 'grpc-message': encodeURIComponent(r.body.trim()), 'x-mesh-response-flags': r.flags };
    return { status: 200, grpcStatus, head, body: undefined };
  }
  return { status: r.status, grpcStatus: '', head: { ...r.headers, ':status': r.status, 'content-type': 'text/plain', 'x-mesh-response-flags': r.flags }, body: r.body };
}

/** The Node http2 codec's rendering of a LocalReply (localReplyParts). */
export function renderLocalReply(stream: ServerHttp2Stream, grpc: boolean, r: LocalReply): { status: number; grpcStatus: string } {
  const parts = localReplyParts(grpc, r);
  const wire = { status: parts.status, grpcStatus: parts.grpcStatus };
  if (stream.destroyed || stream.headersSent) {
    stream.close(constants.NGHTTP2_INTERNAL_ERROR);
    return wire;
  }
  if (parts.body === undefined) {
    stream.respond(parts.head, { endStream: true });
    return wire;
  }
  stream.respond(parts.head);
  stream.end(parts.body);
  return wire;
}
