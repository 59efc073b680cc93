// Where a captured connection was going before iptables REDIRECTed it to the capture listener:
// the kernel keeps it (getsockopt SO_ORIGINAL_DST), and native/original-dst.c reads it, since
// Node has no way to. Without the native piece (no C compiler at build time) captured traffic
// that is not HTTP cannot be carried; `originalDestinations()` says why, once, at start.
import { createRequire } from 'node:module';
import type { Socket } from 'node:net';

export interface Address {
  address: string;
  port: number;
}

interface Native {
  originalDestination(fd: number): (Address & { family: number }) | null;
}

const ADDON = '../native/original-dst.node';
let native: Native | undefined;
let missing: string | undefined;

/** Loads the native reader; returns why it is unavailable, or undefined when it works. */
export function originalDestinations(): string | undefined {
  if (native || missing) return missing;
  try {
    native = createRequire(import.meta.url)(ADDON) as Native;
  } catch (err) {
    missing = `${new URL(ADDON, import.meta.url).pathname} could not be loaded (${(err as Error).message.split('\n')[0]}); run scripts/build-native.sh with a C compiler installed`;
  }
  return missing;
}

const ORIGINAL = Symbol('mesh.originalDestination');

/**
 * Reads and remembers the original destination of a socket accepted on the capture listener.
 * Undefined when the connection was not redirected (it was made to the listener itself) or the
 * reader is unavailable.
 */
export function captureOriginalDestination(socket: Socket): Address | undefined {
  if (originalDestinations() !== undefined) return undefined;
  // libuv's TCP handle exposes its descriptor; it is not a documented API, but has been stable since Node 0.x.
  const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (fd === undefined || fd < 0) return undefined;
  const dst = native!.originalDestination(fd);
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
