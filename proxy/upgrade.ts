// Protocol upgrades (WebSocket): after the routing and policy decisions an ordinary request
// gets, the request goes upstream and the connection becomes a byte pipe only once the upstream
// has answered 101 Switching Protocols to the protocol asked for. Any other answer is relayed as
// the answer to an ordinary request, and the connection goes back to being read as HTTP, so that
// every later request on it is routed and checked (upgrade smuggling: a client that asks for an
// upgrade the application ignores must not get an unchecked tunnel). As Envoy under Istio,
// WebSocket is the protocol carried; `Upgrade: h2c` is dropped and the request carried as HTTP/1.1;
// any other upgrade is refused.
import { STATUS_CODES, type IncomingMessage } from 'node:http';
import { connect as netConnect } from 'node:net';
import type { Duplex } from 'node:stream';
import type { HeaderMap } from '../core/http1/header-ops.js';
import type { ResponseHead } from '../core/http1/response-head.js';
import { localResponseText, requestHeadText, responseHeaderMap, responseHeadText, switchingHeadText } from '../core/http1/serialize.js';
import { exchange } from './relay/exchange.js';
import { noAnswer, type AttemptOutcome } from './attempt-outcome.js';
import type { LocalReply } from './pipeline/filter.js';

/** What to do with a request that asks for an upgrade. */
export type UpgradeKind = { kind: 'tunnel'; protocol: string } | { kind: 'plain' } | { kind: 'refuse'; reason: string };

export function upgradeKind(req: IncomingMessage): UpgradeKind {
  const protocols = String(req.headers.upgrade ?? '')
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean);
  if (protocols.length === 1 && protocols[0].toLowerCase() === 'websocket') return { kind: 'tunnel', protocol: 'websocket' };
  if (protocols.length > 0 && protocols.every((p) => p.toLowerCase() === 'h2c')) return { kind: 'plain' };
  return { kind: 'refuse', reason: `upgrade to "${protocols.join(', ')}" is not allowed (websocket only)` };
}

/**
 * The request again, as the plain HTTP/1.1 request it becomes without its upgrade (h2c): the
 * head without Upgrade, HTTP2-Settings and Connection, then whatever the client sent after it.
 * The header lines come from Node's parser, so they are already checked.
 */
export function withoutUpgrade(req: IncomingMessage, after: Buffer): Buffer {
  const lines = [`${req.method} ${req.url} HTTP/1.1`];
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    const lower = req.rawHeaders[i].toLowerCase();
    if (lower !== 'upgrade' && lower !== 'http2-settings' && lower !== 'connection') lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
  }
  // Of the Connection tokens only `close` still means something once the upgrade is gone.
  if (/(^|,)\s*close\s*(,|$)/i.test(String(req.headers.connection ?? ''))) lines.push('Connection: close');
  return Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1'), after]);
}

/** Hands a connection (with any bytes put back) to an HTTP server, to be read as HTTP/1.1 from here on. */
export function resumeAsHttp(server: { emit(event: 'connection', socket: Duplex): boolean }, socket: Duplex, unread?: Buffer): void {
  if (unread && unread.length > 0) socket.unshift(unread);
  server.emit('connection', socket);
  process.nextTick(() => socket.resume());
}

/** The head of an upgrade request sent upstream: its end-to-end headers, then the upgrade itself. */
export function upgradeRequestHead(method: string, path: string, headers: HeaderMap, protocol: string): string {
  return requestHeadText(method, path, { ...headers, connection: 'upgrade', upgrade: protocol });
}

export interface UpgradeCall {
  /** The caller's connection, as Node's HTTP server handed it over (not flowing). */
  client: Duplex;
  /** What the caller sent after the request head. */
  clientHead: Buffer;
  /** The upstream connection, connecting; `ready` names the event that says it is open. */
  upstream: Duplex;
  ready: 'connect' | 'secureConnect';
  head: string;
  method: string;
  protocol: string;
  /** Gives the caller's connection back to the HTTP server, with the bytes it sent since, to be read as HTTP again. */
  resumeHttp(socket: Duplex, unread: Buffer): void;
  /** Joined connections, for the owner's close(). */
  open: Set<Duplex>;
  /** The route's response side (header rules, filters' hooks), for the 101 and any other answer. */
  editResponse?: (h: HeaderMap) => void;
}

/** How an upgrade ended: 101 and a tunnel (relayed, status 101), another answer relayed, or no answer (status 0). */
export function carryUpgrade(call: UpgradeCall, onTunnelClosed: () => void): Promise<AttemptOutcome> {
  const { client, upstream } = call;
  return new Promise((resolve) => {
    const failed = (err: Error) => resolve(noAnswer(err));
    upstream.once('error', failed);
    upstream.once(call.ready, () => {
      upstream.off('error', failed);
      const edited = (h: ResponseHead) => {
        const map = responseHeaderMap(h);
        call.editResponse?.(map);
        return map;
      };
      void exchange(upstream, { head: call.head, body: undefined, isHead: call.method === 'HEAD', timeoutMs: Infinity, upgrade: call.protocol }, client, (h) =>
        responseHeadText(h, edited(h), h.framing.type === 'close'),
      ).then((o) => {
        if (o.switched) {
          const { parsed, protocol, rest } = o.switched;
          const head = call.editResponse ? Buffer.from(switchingHeadText(parsed, edited(parsed), protocol), 'latin1') : o.switched.head;
          client.write(Buffer.concat([head, rest]));
          if (call.clientHead.length > 0) upstream.write(call.clientHead);
          splice(client, upstream, call.open, onTunnelClosed);
          return resolve({ status: 101, relayed: true, timedOut: false, bytes: 0 });
        }
        upstream.destroy();
        if (!o.relayed) return resolve({ ...noAnswer(o.error), protocolError: o.protocolError });
        // An answer that broke off mid-body must not look complete: the connection is cut.
        if (o.error || client.destroyed) client.destroy();
        else if (o.closeDownstream) client.end();
        // An ordinary answer: the connection is HTTP/1.1 still, and what follows is a request.
        else call.resumeHttp(client, call.clientHead);
        resolve({ status: o.status, relayed: true, timedOut: false, bytes: o.bytes, error: o.error });
      });
    });
  });
}

/**
 * Joins two sockets; either side closing or failing closes both. Both are kept in `open` while
 * joined, so that the owner's close() can end them: HTTP servers stop tracking upgraded sockets.
 * A half-close passes through, as with Envoy's TCP proxy: a client that ends its side after its
 * request (as `nc` does) still gets the answer. Sockets are made half-open for that (Node reads
 * the flag when the end arrives); each closes once both its directions are done.
 */
export function splice(a: Duplex, b: Duplex, open: Set<Duplex>, onClose: () => void): void {
  let closed = false;
  a.allowHalfOpen = true;
  b.allowHalfOpen = true;
  open.add(a).add(b);
  const close = () => {
    if (closed) return;
    closed = true;
    open.delete(a);
    open.delete(b);
    a.destroy();
    b.destroy();
    onClose();
  };
  a.on('error', close).on('close', close);
  b.on('error', close).on('close', close);
  a.pipe(b);
  b.pipe(a);
}

/** Answers an upgrade request locally (refused, or the route's own answer) and closes: the upgrade codec's rendering of a LocalReply. */
export function refuseUpgrade(socket: Duplex, r: LocalReply): void {
  if (!socket.writable) return void socket.destroy();
  socket.end(localResponseText(r.status, STATUS_CODES[r.status] ?? '', r.flags, r.body, true, r.headers));
}

export function connectPlain(host: string, port: number): Duplex {
  const s = netConnect({ host, port });
  s.setNoDelay(true);
  return s;
}
