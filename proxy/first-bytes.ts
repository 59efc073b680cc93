// Where a connection's first bytes decide what it is (HTTP/1.1, HTTP/2, TLS or other bytes).
import type { Socket } from 'node:net';

/**
 * Calls back with a connection's first bytes, or with nothing (and the socket paused) when none
 * came within `ms`. The caller decides where the bytes go.
 */
export function firstBytes(socket: Socket, ms: number, then: (first: Buffer | undefined) => void): void {
  const onData = (first: Buffer) => {
    socket.setTimeout(0);
    socket.off('timeout', onTimeout);
    then(first);
  };
  const onTimeout = () => {
    socket.pause();
    socket.setTimeout(0);
    socket.off('data', onData);
    then(undefined);
  };
  socket.setTimeout(ms, onTimeout);
  socket.once('data', onData);
}
