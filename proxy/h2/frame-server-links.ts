// The connections a frame relay accepts (the peers' at the server sidecar, the applications' at
// the client sidecar), with what both relays do to them alike: one with no stream open for the
// idle timeout is closed, as Node's path does after the same time; drain tells each to go away
// (GOAWAY) and closes it once its last stream has ended; close ends them all at once.
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { FrameLink } from './frame-link.js';

export class FrameServerLinks {
  private readonly links = new Set<FrameLink>();
  private draining = false;

  constructor(private readonly idleTimeoutMs: number) {}

  /** A connection just accepted on `socket`; while draining it is told to go away at once. */
  add(link: FrameLink, socket: Duplex): void {
    this.links.add(link);
    (socket as Partial<Socket>).setTimeout?.(this.idleTimeoutMs, () => {
      if (link.conn.size === 0) this.end(link);
    });
    if (this.draining) link.conn.goaway();
  }

  /** The connection is gone. */
  delete(link: FrameLink): void {
    this.links.delete(link);
  }

  /** A stream of `link` ended: a draining connection with none left closes. */
  streamEnded(link: FrameLink): void {
    if (this.draining && link.conn.size === 0) this.end(link);
  }

  /** No new streams (GOAWAY); open ones finish, then their connections close. */
  drain(): void {
    this.draining = true;
    for (const link of this.links) {
      link.conn.goaway();
      if (link.conn.size === 0) this.end(link);
    }
  }

  close(): void {
    for (const link of this.links) link.socket.destroy();
  }

  private end(link: FrameLink): void {
    link.conn.goaway();
    process.nextTick(() => link.socket.end());
  }
}
