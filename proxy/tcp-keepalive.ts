// DestinationRule connectionPool.tcp.tcpKeepalive on the sidecar's upstream connections: the
// idle time, the interval between probes and the probe count, all three set by
// native/tcp-keepalive.c (Node sets only the idle time). Without the native piece (no C compiler
// at build time) the idle time is still set through Node, and `keepaliveUnavailable()` says why
// the other two are not, once, at start.
import { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { ConnectionPool } from '../core/snapshot/types.js';
import { nativeAddon, socketFd } from './native-addon.js';

type Keepalive = NonNullable<ConnectionPool['tcpKeepalive']>;

interface Native {
  setKeepalive(fd: number, idleSeconds: number, intervalSeconds: number, probes: number): void;
  keepalive(fd: number): { enabled: boolean; idleSeconds: number; intervalSeconds: number; probes: number };
}

const addon = nativeAddon<Native>('tcp-keepalive', "a DestinationRule's tcpKeepalive sets only its idle time");

/** Loads the native piece; returns why it is unavailable, or undefined when it works. */
export function keepaliveUnavailable(): string | undefined {
  return addon.missing();
}

/** Turns keepalive on for an upstream connection, with the rule's settings, once it is connected. */
export function applyKeepalive(socket: Duplex, k: Keepalive | undefined): void {
  if (!k || !(socket instanceof Socket)) return;
  const apply = () => {
    const native = addon.get();
    const fd = socketFd(socket);
    if (native && fd !== undefined) {
      try {
        native.setKeepalive(fd, k.timeS ?? 0, k.intervalS ?? 0, k.probes ?? 0);
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
  const native = addon.get();
  const fd = socketFd(socket);
  return native && fd !== undefined ? native.keepalive(fd) : undefined;
}
