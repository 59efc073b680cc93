// HTTP pieces both listeners share.
import type { IncomingHttpHeaders, OutgoingHttpHeaders, Server as HttpServer, ServerOptions } from 'node:http';
import type { Duplex } from 'node:stream';
import { headerMap } from '../core/http1/header-ops.js';

/** Connection-scoped headers that a proxy must not forward (RFC 9110 7.6.1). */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'trailer', 'proxy-authorization', 'proxy-authenticate']);

export function forwardableHeaders(h: IncomingHttpHeaders): OutgoingHttpHeaders {
  const out = headerMap<OutgoingHttpHeaders>();
  for (const k in h) {
    const v = h[k];
    if (v !== undefined && !HOP_BY_HOP.has(k)) out[k] = v;
  }
  return out;
}

/**
 * A request the HTTP parser refused (CL+TE, duplicate Content-Length, bare CR, obs-fold, bad
 * header names: 400; oversized headers: 431) or a head that came too slowly (408): answer and
 * close; nothing is forwarded.
 */
export function answerClientError(err: NodeJS.ErrnoException, socket: Duplex): void {
  const [status, reason] = err.code === 'HPE_HEADER_OVERFLOW' ? [431, 'Request Header Fields Too Large'] : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? [408, 'Request Timeout'] : [400, 'Bad Request'];
  if (socket.writable) socket.end(`HTTP/1.1 ${status} ${reason}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`);
  else socket.destroy();
}

/**
 * Server options against slow and idle clients. Node checks the head deadline on an interval
 * (30 s by default), so the interval follows the deadline. Whole-request deadlines stay off:
 * long uploads and streams are legitimate; the idle timeout (server.timeout) ends stalled ones.
 */
export function clientLimits(o: { headersTimeoutMs: number; idleTimeoutMs: number }): ServerOptions {
  return {
    headersTimeout: o.headersTimeoutMs,
    requestTimeout: 0,
    keepAliveTimeout: o.idleTimeoutMs,
    connectionsCheckingInterval: Math.max(100, Math.min(1000, Math.floor(o.headersTimeoutMs / 2))),
    maxHeaderSize: 16 * 1024,
  };
}

/**
 * For an http.Server that is fed sockets with emit('connection') instead of listening itself
 * (our listeners sniff or split protocols first): Node starts its connection tracking, which
 * enforces headersTimeout and makes closeAllConnections() work, on the 'listening' event.
 */
export function trackConnections(server: HttpServer): HttpServer {
  server.emit('listening');
  return server;
}
