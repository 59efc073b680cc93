// An HTTP/2 connection of core/h2 on a socket: what the connection has to send goes out in one
// write per turn of the event loop, what the socket brings is fed to it. The sidecar's HTTP/2
// relay (inbound-frames.ts) holds one per peer connection and per application connection.
import type { Duplex } from 'node:stream';
import { H2Connection, type H2ConnectionOptions, type H2Handler } from '../../core/h2/connection.js';
import type { H2ProtocolError } from '../../core/h2/errors.js';

export type LinkHandler = Omit<H2Handler, 'output' | 'failed'> & {
  /** The connection failed (its GOAWAY is being sent) or the socket closed: every stream on it is gone. */
  gone(err?: H2ProtocolError): void;
};

export class FrameLink {
  readonly conn: H2Connection;
  private scheduled = false;
  private ended = false;

  constructor(
    readonly socket: Duplex,
    options: H2ConnectionOptions,
    handler: LinkHandler,
  ) {
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
    this.gone = handler.gone;
    socket.on('data', (chunk: Buffer) => this.conn.receive(chunk));
    socket.on('error', () => socket.destroy());
    socket.once('close', () => this.finish());
  }

  private readonly gone: LinkHandler['gone'];

  private finish(err?: H2ProtocolError): void {
    if (this.ended) return;
    this.ended = true;
    this.gone(err);
  }

  get closed(): boolean {
    return this.ended;
  }

  private readonly flush = (): void => {
    this.scheduled = false;
    const bytes = this.conn.takeOutput();
    if (bytes && !this.socket.destroyed) this.socket.write(bytes);
  };
}
