// A snapshot-stream follower for the propagation benchmark that costs this machine less than
// Node's HTTP client does. The benchmark runs 10,000 simulated proxies in one process on the two
// cores the controllers use; on a real mesh each sidecar runs on its own host, so what the
// simulator spends per change is time the controllers lose here and would not lose there. It
// speaks the same bytes as the sidecar (POST /v1/snapshots/stream over TLS with the workload's
// certificate, a chunked request body of `ack <version>` lines, the frames of
// core/snapshot/stream-frames.ts in a chunked response) over a plain TLS socket: an ack is one
// write of one pre-framed chunk, and the workload's TLS context is made once per identity, not
// once per connection. `BENCH_FOLLOWER=node` follows with Node's HTTP client instead (lib.ts).
// The controller is trusted here (it is the thing measured); a response it frames in a way this
// reader does not expect ends the connection with an error the benchmark counts.
import { connect, createSecureContext, type SecureContext, type TLSSocket } from 'node:tls';
import { readResponseHead } from '../core/http1/response-head.js';
import { DeferredAck } from '../core/snapshot/deferred-ack.js';
import { ackLine, FrameDecoder, type StreamFrame } from '../core/snapshot/stream-frames.js';
import { ACK_DELAY, type ControllerProcess, type Follow } from './lib.js';

const contexts = new Map<string, SecureContext>();

/** The TLS context of a workload identity, made once (each one parses the key and certificate). */
function contextFor(ca: string, identity: { cert: string; key: string }): SecureContext {
  let made = contexts.get(identity.cert);
  if (!made) contexts.set(identity.cert, (made = createSecureContext({ ca, cert: identity.cert, key: identity.key })));
  return made;
}

const enum Phase {
  Head,
  SizeLine,
  Data,
  DataEnd,
  Trailers,
  Done,
}

const CHUNK_SIZE = /^[0-9a-fA-F]{1,8}$/;

/**
 * Reads the controller's answer to one stream request, in whatever pieces the socket hands it:
 * the head (200 and chunked, or an error), the chunks, the frames in them. Pure, for the tests.
 */
export class StreamAnswerReader {
  private phase = Phase.Head;
  private pending = Buffer.alloc(0);
  private remaining = 0;
  private readonly frames = new FrameDecoder();

  /** The frames completed by `chunk`, and whether the answer is complete. Throws on anything that is not a 200 with a chunked body of frames. */
  push(chunk: Buffer): { frames: StreamFrame[]; done: boolean } {
    const out: StreamFrame[] = [];
    let buf = this.pending.length > 0 ? Buffer.concat([this.pending, chunk]) : chunk;
    this.pending = Buffer.alloc(0);
    for (;;) {
      if (this.phase === Phase.Done) {
        if (buf.length > 0) throw new Error('bytes after the end of the answer');
        return { frames: out, done: true };
      }
      if (this.phase === Phase.Data) {
        const take = Math.min(this.remaining, buf.length);
        if (take > 0) out.push(...this.frames.push(buf.subarray(0, take)));
        this.remaining -= take;
        buf = buf.subarray(take);
        if (this.remaining > 0) return { frames: out, done: false };
        this.phase = Phase.DataEnd;
      }
      if (this.phase === Phase.Head) {
        // The relay's own reader of answer heads: status and framing.
        const read = readResponseHead(buf, false);
        if (read.kind === 'invalid') throw new Error(`unreadable answer head: ${read.reason}`);
        if (read.kind === 'incomplete') {
          this.pending = Buffer.from(buf);
          return { frames: out, done: false };
        }
        if (read.head.status !== 200) throw new Error(`stream refused: ${read.head.status}`);
        if (read.head.framing.type !== 'chunked') throw new Error('stream answer not chunked');
        buf = buf.subarray(read.head.headLength);
        this.phase = Phase.SizeLine;
        continue;
      }
      const eol = buf.indexOf('\r\n');
      if (eol < 0) {
        if (buf.length > 16 * 1024) throw new Error('a line longer than 16 KB');
        this.pending = Buffer.from(buf);
        return { frames: out, done: false };
      }
      const line = buf.toString('latin1', 0, eol);
      buf = buf.subarray(eol + 2);
      switch (this.phase) {
        case Phase.DataEnd:
          if (line !== '') throw new Error('chunk longer than its size');
          this.phase = Phase.SizeLine;
          break;
        case Phase.SizeLine:
          if (!CHUNK_SIZE.test(line)) throw new Error(`bad chunk size line ${JSON.stringify(line.slice(0, 40))}`);
          this.remaining = parseInt(line, 16);
          this.phase = this.remaining === 0 ? Phase.Trailers : Phase.Data;
          break;
        case Phase.Trailers:
          if (line !== '') break;
          if (!this.frames.atBoundary) throw new Error('the answer ended inside a frame');
          this.phase = Phase.Done;
          break;
      }
    }
  }
}

/** A proxy's newest TLS session, shared by its connections to every controller as the sidecar's client shares it. */
export interface SessionHolder {
  session?: Buffer;
  /** Connections that resumed a session (for the benchmark's report). */
  resumed?: number;
}

/**
 * One proxy's connection to one controller, kept alive from one stream to the next as the
 * sidecar's is. With `sessions`, a new connection offers the proxy's newest TLS session, as the
 * sidecar does (proxy/controller-client.ts); without, every connection is a full handshake.
 */
export function rawStreamer(c: ControllerProcess, identity: { cert: string; key: string }, sessions?: SessionHolder): Follow {
  const { hostname, port, host } = new URL(c.base);
  const secureContext = contextFor(c.ca, identity);
  let socket: TLSSocket | undefined;
  const open = (): TLSSocket => {
    const made = connect({ host: hostname, port: Number(port), secureContext, session: sessions?.session });
    if (sessions) {
      made.on('session', (session: Buffer) => (sessions.session = session));
      made.once('secureConnect', () => made.isSessionReused() && (sessions.resumed = (sessions.resumed ?? 0) + 1));
    }
    // As Node's HTTP agent (and so the sidecar) does: an ack is not held back for the one before it.
    made.setNoDelay(true);
    // Between streams no follow listens: an error or a close then only retires the connection.
    made.on('error', () => undefined);
    made.once('close', () => {
      if (socket === made) socket = undefined;
    });
    return made;
  };
  return (path, onSnapshot) =>
    new Promise<void>((resolve, reject) => {
      const s = (socket ??= open());
      const reader = new StreamAnswerReader();
      // As the sidecar: a moment after the snapshot, not at once (core/snapshot/deferred-ack.ts).
      const acks = new DeferredAck((version) => {
        const ack = ackLine(version);
        s.write(`${ack.length.toString(16)}\r\n${ack}\r\n`);
      }, ACK_DELAY);
      const finish = (err?: Error) => {
        // Not after the request's end: the connection carries the next stream's request then.
        acks.cancel();
        s.off('data', onData);
        s.off('close', onClose);
        s.off('error', onError);
        if (err) {
          s.destroy();
          if (socket === s) socket = undefined;
          reject(err);
        } else resolve();
      };
      const onError = (err: Error) => finish(err);
      const onClose = () => finish(new Error('socket hang up'));
      const onData = (chunk: Buffer): void => {
        let read: ReturnType<StreamAnswerReader['push']>;
        try {
          read = reader.push(chunk);
        } catch (err) {
          return finish(err as Error);
        }
        for (const f of read.frames) {
          if (f.type !== 'snapshot') continue;
          onSnapshot(f.version, f.body.length);
          acks.applied(f.version);
        }
        if (read.done) {
          // The answer is complete: the request body ends too, and the connection serves the next stream.
          s.write('0\r\n\r\n');
          finish();
        }
      };
      s.on('data', onData);
      s.once('close', onClose);
      s.once('error', onError);
      s.write(`POST ${path} HTTP/1.1\r\nhost: ${host}\r\naccept-encoding: gzip\r\ncontent-type: text/plain\r\ntransfer-encoding: chunked\r\n\r\n`);
    });
}
