// DestinationRule connectionPool.tcp.tcpKeepalive on the sidecar's upstream connections: the
// idle time, the interval between probes and the probe count, all three set by
// native/tcp-keepalive.c (Node sets only the idle time). Without the native piece (no C compiler
// at build time) the idle time is still set through Node, and `keepaliveUnavailable()` says why
// the other two are not, once, at start.
import { createRequire } from 'node:module';
import { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { ConnectionPool } from '../core/snapshot/types.js';

type Keepalive = NonNullable<ConnectionPool['tcpKeepalive']>;

interface Native {
  setKeepalive(fd: number, idleSeconds: number, intervalSeconds: number, probes: number): void;
  keepalive(fd: number): { enabled: boolean; idleSeconds: number; intervalSeconds: number; probes: number };
}

const ADDON = '../native/tcp-keepalive.node';
let native: Native | undefined;
let missing: string | undefined;

/** Loads the native piece; returns why it is unavailable, or undefined when it works. */
export function keepaliveUnavailable(): string | undefined {
  if (native || missing) return missing;
  try {
    native = createRequire(import.meta.url)(ADDON) as Native;
  } catch (err) {
    missing = `${new URL(ADDON, import.meta.url).pathname} could not be loaded (${(err as Error).message.split('\n')[0]}): a DestinationRule's tcpKeepalive sets only its idle time; run scripts/build-native.sh with a C compiler installed`;
  }
  return missing;
}

/** libuv's descriptor of a connected socket (as original-destination.ts reads it; TLS sockets expose it too). */
function fdOf(socket: Socket): number | undefined {
  const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
  return fd !== undefined && fd >= 0 ? fd : undefined;
}

/** Turns keepalive on for an upstream connection, with the rule's settings, once it is connected. */
export function applyKeepalive(socket: Duplex, k: Keepalive | undefined): void {
  if (!k || !(socket instanceof Socket)) return;
  const apply = () => {
    const fd = fdOf(socket);
    if (fd !== undefined && keepaliveUnavailable() === undefined) {
      try {
        native!.setKeepalive(fd, k.timeS ?? 0, k.intervalS ?? 0, k.probes ?? 0);
        return;
      } catch {
        // the descriptor went away (the connection failed): Node's call below is harmless then
      }
    }
    socket.setKeepAlive(true, (k.timeS ?? 0) * 1000);
  };
  if (socket.connecting) socket.once('connect', apply);
  else apply();
}

/** What the kernel holds for a socket's keepalive (for tests and diagnostics); undefined without the native piece. */
export function keepaliveOf(socket: Socket): ReturnType<Native['keepalive']> | undefined {
  const fd = fdOf(socket);
  return fd === undefined || keepaliveUnavailable() !== undefined ? undefined : native!.keepalive(fd);
}
