// An HTTP/2 connection of core/h2 on a socket: what the connection has to send goes out in one
// write per turn of the event loop, what the socket brings is fed to it. The sidecar's HTTP/2
// relay (inbound-frames.ts) holds one per peer connection and per application connection.
//
// A peer that does not read is not allowed to make the sidecar hold its answers: past
// HIGH_WATER bytes waiting in the socket the link stops reading (a flood of PINGs or SETTINGS,
// each owed an acknowledgement, then waits in the peer's own buffers), says it is backlogged (so
// that the relay stops giving the other side window for bytes bound here), and tells `drained`
// once the socket has caught up.
import type { Duplex } from 'node:stream';
import { H2Connection, type H2ConnectionOptions, type H2Handler } from '../../core/h2/connection.js';
import type { H2ProtocolError } from '../../core/h2/errors.js';

/** Bytes waiting in a socket past which its link stops reading and counts as backlogged. */
export const HIGH_WATER = 1024 * 1024;

export type LinkHandler = Omit<H2Handler, 'output' | 'failed'> & {
  /** The connection failed (its GOAWAY is being sent) or the socket closed: every stream on it is gone. */
  gone(err?: H2ProtocolError): void;
  /** The socket wrote out what was waiting: held-back window may be given again. */
  drained?(): void;
};

export class FrameLink {
  readonly conn: H2Connection;
  private scheduled = false;
  private ended = false;
  private paused = false;
  private readonly handler: LinkHandler;

  constructor(
    readonly socket: Duplex,
    options: H2ConnectionOptions,
    handler: LinkHandler,
  ) {
    this.handler = handler;
    this.conn = new H2Connection(options, {
      ...handler,
      output: () => {
        if (this.scheduled) return;
        this.scheduled = true;
        process.nextTick(this.flush);
      },
      failed: (err) => {
        this.flush();
        this.finish(err);
        socket.end();
      },
    });
    socket.on('data', (chunk: Buffer) => this.conn.receive(chunk));
    socket.on('drain', () => {
      if (this.paused) {
        this.paused = false;
        socket.resume();
      }
      this.handler.drained?.();
    });
    socket.on('error', () => socket.destroy());
    socket.once('close', () => this.finish());
  }

  get closed(): boolean {
    return this.ended;
  }

  /** More than HIGH_WATER bytes wait in the socket: the peer is not reading as fast as it is sent to. */
  get backlogged(): boolean {
    return this.socket.writableLength > HIGH_WATER;
  }

  private finish(err?: H2ProtocolError): void {
    if (this.ended) return;
    this.ended = true;
    this.handler.gone(err);
  }

  private readonly flush = (): void => {
    this.scheduled = false;
    const bytes = this.conn.takeOutput();
    if (!bytes || this.socket.destroyed) return;
    this.socket.write(bytes);
    if (!this.paused && this.backlogged) {
      this.paused = true;
      this.socket.pause();
    }
  };
}
