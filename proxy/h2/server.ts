// An HTTP/2 server fed connections by a listener that has already recognised HTTP/2 (the
// cleartext preface, or ALPN h2 after mTLS): streams go to `onStream`; sessions are tracked so
// that drain lets their streams finish and close ends them; the rapid-reset guard watches all.
import { createServer, type Http2Server, type Http2Session, type IncomingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import type { Duplex } from 'node:stream';
import { SERVER_SETTINGS, watchStream } from './guard.js';

/** The client preface of HTTP/2 with prior knowledge starts with these bytes. */
export const H2_PREFACE = Buffer.from('PRI * HTTP/2.0');

export function isH2Preface(first: Buffer): boolean {
  return first.length >= 3 && first.subarray(0, Math.min(first.length, H2_PREFACE.length)).equals(H2_PREFACE.subarray(0, Math.min(first.length, H2_PREFACE.length)));
}

export class H2Server {
  private readonly server: Http2Server;
  private readonly sessions = new Set<Http2Session>();

  constructor(onStream: (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => void, onAbuse: (session: Http2Session) => void, idleTimeoutMs: number) {
    this.server = createServer({ settings: SERVER_SETTINGS });
    this.server.on('session', (s: Http2Session) => {
      // A peer's protocol error ends its session, never the process.
      s.on('error', () => s.destroy());
      this.sessions.add(s);
      s.once('close', () => this.sessions.delete(s));
      s.setTimeout(idleTimeoutMs, () => s.close());
    });
    this.server.on('stream', (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => {
      // A stream error (DATA past content-length, a reset mid-answer, a stream nobody reads)
      // ends that stream only; handlers learn of it through 'close' and 'aborted'. Attached
      // first, so that no stream exists for a moment without it.
      stream.on('error', () => stream.destroy());
      watchStream(stream, onAbuse);
      onStream(stream, headers);
    });
    this.server.on('sessionError', () => undefined);
  }

  accept(socket: Duplex): void {
    this.server.emit('connection', socket);
  }

  get size(): number {
    return this.sessions.size;
  }

  /** No new streams (GOAWAY); open ones finish. */
  drain(): void {
    for (const s of this.sessions) s.close();
  }

  close(): void {
    for (const s of this.sessions) s.destroy();
  }
}
