// The client side of the HTTP/1.1 relay: reads request heads with the strict reader, waits for
// small bodies to be complete, and hands each request to the listener's handler, one at a time
// per connection (pipelined requests wait their turn, as HTTP/1.1 requires). A request the
// strict reader does not take (see core/http1/request-head.ts), a large body, or a route that
// needs the full HTTP machinery sends the connection, with every byte read so far, to Node's
// HTTP server for the rest of its life.
import type { Socket } from 'node:net';
import { MAX_HEAD_BYTES, readRequestHead, type RequestHead } from '../../core/http1/request-head.js';

export interface RelayRequest {
  head: RequestHead;
  /** The complete body; empty when there is none. */
  body: Buffer;
  socket: Socket;
  /** The connection ends after this response (the client asked, or the listener is draining): say so in the head. */
  closeAfter: boolean;
}

/**
 * `done`: the response was written and the connection may carry the next request; `close`:
 * it must not; `full-parser`: nothing was written, Node's HTTP server takes the connection.
 */
export type RelayVerdict = 'done' | 'close' | 'full-parser';

export interface RelayLimits {
  headersTimeoutMs: number;
  idleTimeoutMs: number;
  /** Larger bodies are streamed by the full parser rather than buffered here. */
  maxBodyBytes: number;
}

interface Connection {
  socket: Socket;
  buf: Buffer;
  busy: boolean;
  headTimer: NodeJS.Timeout | undefined;
  onData(chunk: Buffer): void;
}

const EMPTY = Buffer.alloc(0);

export class Http1Relay {
  private readonly connections = new Map<Socket, Connection>();
  private draining = false;

  constructor(
    private readonly handler: (req: RelayRequest) => Promise<RelayVerdict>,
    private readonly fullParser: (socket: Socket) => void,
    private readonly limits: RelayLimits,
  ) {}

  /** Takes a new client connection; `initial` holds bytes already read from it (protocol sniffing). */
  accept(socket: Socket, initial?: Buffer): void {
    const conn: Connection = {
      socket,
      buf: initial ?? EMPTY,
      busy: false,
      headTimer: undefined,
      onData: (chunk) => {
        conn.buf = conn.buf.length === 0 ? chunk : Buffer.concat([conn.buf, chunk]);
        if (!conn.busy) this.next(conn);
        else if (conn.buf.length > MAX_HEAD_BYTES + this.limits.maxBodyBytes) socket.pause(); // a pipelining flood waits
      },
    };
    this.connections.set(socket, conn);
    socket.once('close', () => {
      this.connections.delete(socket);
      clearTimeout(conn.headTimer);
    });
    socket.on('error', () => socket.destroy());
    socket.setTimeout(this.limits.idleTimeoutMs, () => socket.destroy());
    socket.on('data', conn.onData);
    if (conn.buf.length > 0) this.next(conn);
  }

  /** Connections the relay still owns. */
  get size(): number {
    return this.connections.size;
  }

  /** Idle connections close now; busy ones after their current response. */
  drain(): void {
    this.draining = true;
    for (const c of this.connections.values()) if (!c.busy && c.buf.length === 0) c.socket.end();
  }

  close(): void {
    this.draining = true;
    for (const c of this.connections.values()) c.socket.destroy();
  }

  private next(conn: Connection): void {
    const { socket } = conn;
    if (socket.destroyed) return;
    const r = readRequestHead(conn.buf);
    if (r.kind === 'incomplete') {
      if (conn.buf.length > 0 && !conn.headTimer) {
        conn.headTimer = setTimeout(() => {
          if (socket.writable) socket.end('HTTP/1.1 408 Request Timeout\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
          else socket.destroy();
        }, this.limits.headersTimeoutMs);
      }
      return;
    }
    if (r.kind === 'other' || r.head.contentLength > this.limits.maxBodyBytes) return this.toFullParser(conn);
    const total = r.head.headLength + r.head.contentLength;
    if (conn.buf.length < total) return; // the body is still coming; the idle timeout bounds the wait
    clearTimeout(conn.headTimer);
    conn.headTimer = undefined;
    const raw = conn.buf;
    const body = raw.subarray(r.head.headLength, total);
    conn.buf = raw.subarray(total);
    conn.busy = true;
    void this.handler({ head: r.head, body, socket, closeAfter: !r.head.keepAlive || this.draining }).then(
      (verdict) => this.after(conn, r.head, raw.subarray(0, total), verdict),
      () => socket.destroy(),
    );
  }

  private after(conn: Connection, head: RequestHead, request: Buffer, verdict: RelayVerdict): void {
    conn.busy = false;
    const { socket } = conn;
    if (verdict === 'full-parser') {
      // Nothing was answered: the request goes to the full parser, with all that followed it.
      conn.buf = conn.buf.length > 0 ? Buffer.concat([request, conn.buf]) : request;
      return this.toFullParser(conn);
    }
    if (socket.destroyed) return;
    if (verdict === 'close' || !head.keepAlive || (this.draining && conn.buf.length === 0)) return void socket.end();
    if (socket.isPaused()) socket.resume();
    if (conn.buf.length > 0) this.next(conn);
  }

  private toFullParser(conn: Connection): void {
    const { socket } = conn;
    clearTimeout(conn.headTimer);
    this.connections.delete(socket);
    socket.off('data', conn.onData);
    socket.setTimeout(0);
    socket.removeAllListeners('timeout');
    socket.pause();
    if (conn.buf.length > 0) socket.unshift(conn.buf);
    this.fullParser(socket);
    process.nextTick(() => socket.resume());
  }
}
