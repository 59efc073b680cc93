// Where a captured connection was going before iptables REDIRECTed it to the capture listener:
// the kernel keeps it (getsockopt SO_ORIGINAL_DST), and native/original-dst.c reads it, since
// Node has no way to. Without the native piece (no C compiler at build time) captured traffic
// that is not HTTP cannot be carried; `originalDestinations()` says why, once, at start.
import type { Socket } from 'node:net';
import { nativeAddon, socketFd } from './native-addon.js';

export interface Address {
  address: string;
  port: number;
}

interface Native {
  originalDestination(fd: number): (Address & { family: number }) | null;
}

const addon = nativeAddon<Native>('original-dst', 'captured traffic that is not HTTP cannot be carried');

/** Loads the native reader; returns why it is unavailable, or undefined when it works. */
export function originalDestinations(): string | undefined {
  return addon.missing();
}

const ORIGINAL = Symbol('mesh.originalDestination');

/**
 * Reads and remembers the original destination of a socket accepted on the capture listener.
 * Undefined when the connection was not redirected (it was made to the listener itself) or the
 * reader is unavailable.
 */
export function captureOriginalDestination(socket: Socket): Address | undefined {
  const native = addon.get();
  const fd = socketFd(socket);
  if (!native || fd === undefined) return undefined;
  const dst = native.originalDestination(fd);
  if (!dst) return undefined;
  const local = (socket.localAddress ?? '').replace(/^::ffff:/, '');
  if (dst.address === local && dst.port === socket.localPort) return undefined;
  const found = { address: dst.address, port: dst.port };
  (socket as unknown as Record<symbol, Address>)[ORIGINAL] = found;
  return found;
}

/**
 * The original destination remembered for a connection. Takes the socket itself or what stands
 * for it (an HTTP/2 session's socket is a proxy that forwards property reads to the socket).
 */
export function originalOf(socket: object | undefined): Address | undefined {
  return socket ? (socket as Record<symbol, Address | undefined>)[ORIGINAL] : undefined;
}
