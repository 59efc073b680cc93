// Protocol upgrades (WebSocket): after the routing and policy decisions an ordinary request
// gets, the connection becomes a byte pipe between the client and the chosen endpoint (over mTLS
// between sidecars).
import type { IncomingMessage } from 'node:http';
import { connect as netConnect } from 'node:net';
import type { Duplex } from 'node:stream';

/** Serialises the request head again, with the authority it should carry upstream. */
export function requestHead(req: IncomingMessage, path: string, host: string, extra: [string, string][] = [], remove?: string): string {
  const lines = [`${req.method} ${path} HTTP/1.1`];
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    const name = req.rawHeaders[i];
    const lower = name.toLowerCase();
    if (lower === 'host' || lower === 'x-forwarded-client-cert' || lower === remove) continue;
    lines.push(`${name}: ${req.rawHeaders[i + 1]}`);
  }
  lines.push(`host: ${host}`);
  for (const [k, v] of extra) lines.push(`${k}: ${v}`);
  return `${lines.join('\r\n')}\r\n\r\n`;
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

export function refuseUpgrade(socket: Duplex, status: number, reason: string, flags: string): void {
  if (!socket.writable) return void socket.destroy();
  socket.end(`HTTP/1.1 ${status} ${reason}\r\ncontent-type: text/plain\r\nx-mesh-response-flags: ${flags}\r\nconnection: close\r\ncontent-length: ${Buffer.byteLength(reason) + 1}\r\n\r\n${reason}\n`);
}

export function connectPlain(host: string, port: number): Duplex {
  const s = netConnect({ host, port });
  s.setNoDelay(true);
  return s;
}
