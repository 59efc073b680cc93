// Client HTTP/2 connections on core/h2 (FrameLink), one in use per destination and shared by
// every stream to it: the client sidecar's frame relay opens its upstream streams here (over
// mTLS with ALPN h2 to an endpoint's sidecar, TLS where a rule originates it, h2c otherwise).
// Each stream's events go to the listener it was opened with. A connection that is full, told
// to go away or retired (a renewed certificate) takes no new streams and closes once its last
// stream ends; the next stream to its destination opens a new one.
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { H2_ERROR_CODES } from '../../core/h2/errors.js';
import type { HeaderField } from '../../core/h2/hpack.js';
import { FrameLink } from './frame-link.js';

/** What becomes of one upstream stream. */
export interface UpstreamStreamEvents {
  /** The answer's head (interim answers are not passed on), or its trailers. */
  headers(fields: HeaderField[], end: boolean, trailers: boolean): void;
  data(chunk: Buffer, end: boolean): void;
  /** The stream ended abnormally: reset, refused by a peer going away, or its connection lost (`err` says which). */
  broken(err: Error): void;
  /** What was queued on the stream has gone out, or the socket caught up: held window may be given back. */
  writable(): void;
}

/** A stream reset, by the upstream or by this end for the upstream's stream error, with the HTTP/2 error code. */
export class UpstreamStreamReset extends Error {
  readonly code = 'UPSTREAM_STREAM_RESET';
  constructor(
    readonly h2Code: number,
    readonly byPeer = true,
  ) {
    super(`${byPeer ? 'the upstream reset the stream' : "the upstream's answer broke the protocol"} (${CODE_NAMES.get(h2Code) ?? h2Code})`);
  }
}

const CODE_NAMES = new Map<number, string>(Object.entries(H2_ERROR_CODES).map(([name, code]): [number, string] => [code, name]));

export class ClientLink {
  readonly link: FrameLink;
  private readonly streams = new Map<number, UpstreamStreamEvents>();
  /** Why the socket failed, for the streams it takes with it. */
  private failure: Error | undefined;
  private retired = false;

  constructor(
    socket: Duplex,
    private readonly onUnusable: (link: ClientLink) => void,
    idleTimeoutMs: number,
  ) {
    socket.once('error', (err: Error) => (this.failure ??= err));
    // A connection with no stream for the idle timeout (DestinationRule `idleTimeout`) is closed.
    (socket as Partial<Socket>).setTimeout?.(idleTimeoutMs, () => {
      if (this.streams.size === 0) this.retire();
    });
    this.link = new FrameLink(
      socket,
      { role: 'client' },
      {
        headers: (id, fields, end, role) => {
          if (role === 'informational') return;
          const s = this.streams.get(id);
          if (end) this.ended(id);
          s?.headers(fields, end, role === 'trailers');
        },
        data: (id, chunk, end) => {
          const s = this.streams.get(id);
          if (!s) return this.link.conn.consumed(id, chunk.length);
          if (end) this.ended(id);
          s.data(chunk, end);
        },
        reset: (id, code, byPeer) => {
          const s = this.streams.get(id);
          this.ended(id);
          s?.broken(new UpstreamStreamReset(code, byPeer));
        },
        // Streams above the last one the peer processed end as refused (the codec resets them).
        goaway: () => this.retire(),
        writable: (id) => this.streams.get(id)?.writable(),
        drained: () => {
          for (const s of this.streams.values()) s.writable();
        },
        gone: (err) => {
          this.retired = true;
          this.onUnusable(this);
          const why = err ?? this.failure ?? new Error('the upstream connection closed');
          const open = [...this.streams.values()];
          this.streams.clear();
          for (const s of open) s.broken(why);
        },
      },
    );
  }

  /** Takes a new stream now. */
  get usable(): boolean {
    return !this.retired && !this.link.closed && this.link.conn.canOpen();
  }

  get size(): number {
    return this.streams.size;
  }

  /** A new stream with its request head; its id. Throws when the connection takes no more (check `usable`). */
  open(fields: HeaderField[], end: boolean, events: UpstreamStreamEvents): number {
    const id = this.link.conn.request(fields, end);
    this.streams.set(id, events);
    return id;
  }

  /** Body (and the end) on a stream; false when it is held back (no window, or the socket is backlogged): `writable` tells when it has gone. */
  send(id: number, chunk: Buffer, end: boolean): boolean {
    return this.link.conn.sendData(id, chunk, end) && !this.link.backlogged;
  }

  trailers(id: number, fields: HeaderField[]): void {
    this.link.conn.sendHeaders(id, fields, true);
  }

  /** The answer's bytes were passed on: the upstream gets its window back. */
  consumed(id: number, bytes: number): void {
    this.link.conn.consumed(id, bytes);
  }

  /** RST_STREAM CANCEL; nothing more is told of the stream. */
  cancel(id: number): void {
    // Also after the answer ended: the request side may still be open.
    this.link.conn.reset(id, 'CANCEL');
    this.ended(id);
  }

  /** No new streams; the connection closes once its open ones end. */
  retire(): void {
    if (!this.retired) {
      this.retired = true;
      this.onUnusable(this);
    }
    if (this.streams.size === 0) this.close();
  }

  destroy(): void {
    this.link.socket.destroy();
  }

  private ended(id: number): void {
    this.streams.delete(id);
    if (this.retired && this.streams.size === 0) this.close();
  }

  private close(): void {
    if (this.link.closed) return;
    this.link.conn.goaway();
    process.nextTick(() => this.link.socket.end());
  }
}

/** The connections by destination key: the one taking new streams, and those finishing theirs. */
export class ClientLinks {
  private current = new Map<string, ClientLink>();
  private readonly all = new Set<ClientLink>();

  /** The destination's connection, opened with `connect` when none takes new streams; closed once idle for `idleTimeoutMs`. */
  get(key: string, connect: () => Duplex, idleTimeoutMs: number): ClientLink {
    const known = this.current.get(key);
    if (known?.usable) return known;
    // A full connection finishes its streams on its own and closes.
    known?.retire();
    const link = new ClientLink(
      connect(),
      (unusable) => {
        if (this.current.get(key) === unusable) this.current.delete(key);
        if (unusable.link.closed) this.all.delete(unusable);
      },
      idleTimeoutMs,
    );
    link.link.socket.once('close', () => this.all.delete(link));
    this.current.set(key, link);
    this.all.add(link);
    return link;
  }

  get size(): number {
    return this.all.size;
  }

  /** New streams get new connections (a renewed certificate); open streams finish on the old ones. */
  retire(): void {
    const old = [...this.current.values()];
    this.current = new Map();
    for (const link of old) link.retire();
  }

  close(): void {
    for (const link of this.all) link.destroy();
    this.all.clear();
    this.current.clear();
  }
}
