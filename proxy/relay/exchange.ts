// One request and its response over a kept-alive upstream connection, relayed byte for byte:
// the request (head and body, already complete) goes out in one write; the response head is
// read for its status and framing, handed to `decide`, and the body is passed on untouched,
// with backpressure, until its framing says it has ended. The caller decides, once the status
// is known, whether the answer goes to the client or is dropped for a retry.
import type { Duplex } from 'node:stream';
import { ChunkedScanner } from '../../core/http1/chunked.js';
import { readResponseHead, type ResponseHead } from '../../core/http1/response-head.js';
import type { AttemptOutcome } from '../attempt-outcome.js';

/** An attempt's outcome, plus what the relay needs to know about the two connections afterwards. */
export interface ExchangeOutcome extends AttemptOutcome {
  /** The upstream connection ended its response cleanly and may carry another request. */
  reusable: boolean;
  /** The client connection must close after this response (its length was close-delimited). */
  closeDownstream: boolean;
  /**
   * The upstream answered the requested upgrade with 101 Switching Protocols to that protocol:
   * its head as sent (and parsed), the protocol it names, and the bytes after it. Nothing was written to the client; the upstream
   * connection is paused, ready to be joined to the client's.
   */
  switched?: { head: Buffer; parsed: ResponseHead; protocol: string; rest: Buffer };
}

export interface ExchangeRequest {
  head: string;
  body: Buffer | undefined;
  isHead: boolean;
  timeoutMs: number;
  /** The protocol the request asks to upgrade to; a 101 is accepted only for this one. */
  upgrade?: string;
}

/** Returns the serialised head to send to the client, or undefined to drop the answer. */
export type Decide = (head: ResponseHead) => string | undefined;

/**
 * The handlers of the exchange a connection carries now. Each connection gets its listeners
 * once (`lineOf`) and they call whichever exchange is current: adding and removing six listeners
 * for every request, and the stream resume each 'data' listener schedules, cost more than the
 * rest of the exchange's bookkeeping.
 */
interface Handlers {
  data(chunk: Buffer): void;
  end(): void;
  error(err: Error): void;
}

interface Line {
  current: Handlers | undefined;
  detach(): void;
}

const LINES = new WeakMap<Duplex, Line>();

/** The upstream connection's line, its listeners added on first use. */
function lineOf(up: Duplex): Line {
  let line = LINES.get(up);
  if (line) return line;
  const l: Line = {
    current: undefined,
    detach: () => {
      up.off('data', onData).off('end', onEnd).off('error', onError).off('close', onEnd);
      LINES.delete(up);
    },
  };
  // Bytes while no exchange is waiting for them: the peer is out of step; the connection cannot be reused.
  const onData = (chunk: Buffer) => (l.current ? l.current.data(chunk) : up.destroy());
  const onEnd = () => l.current?.end();
  const onError = (err: Error) => l.current?.error(err);
  up.on('data', onData).on('end', onEnd).on('error', onError).on('close', onEnd);
  LINES.set(up, l);
  return l;
}

interface DownLine {
  current: { close(): void; drain(): void } | undefined;
}

const DOWN_LINES = new WeakMap<Duplex, DownLine>();

/** The client connection's line: its 'close' and 'drain' listeners, added once. */
function downLineOf(down: Duplex): DownLine {
  let line = DOWN_LINES.get(down);
  if (line) return line;
  const l: DownLine = { current: undefined };
  down.on('close', () => l.current?.close()).on('drain', () => l.current?.drain());
  DOWN_LINES.set(down, l);
  return l;
}

export function exchange(up: Duplex, request: ExchangeRequest, down: Duplex, decide: Decide): Promise<ExchangeOutcome> {
  return new Promise((resolve) => {
    let pending: Buffer | undefined;
    let head: ResponseHead | undefined;
    /** The response head, written with the first body bytes as one buffer (one write, one TLS record). */
    let headOut: string | undefined;
    let relayed = false;
    let timedOut = false;
    let bytes = 0;
    let remaining = 0;
    let chunked: ChunkedScanner | undefined;
    let settled = false;
    const line = lineOf(up);
    const downLine = downLineOf(down);

    const finish = (outcome: Omit<ExchangeOutcome, 'relayed' | 'timedOut' | 'bytes' | 'status'> & { status?: number }) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      line.current = undefined;
      downLine.current = undefined;
      // A switched connection keeps its bytes for whoever joins it; otherwise drain what is left.
      if (outcome.switched) {
        line.detach();
        up.pause();
      } else if (up.isPaused()) up.resume();
      resolve({ status: outcome.status ?? head?.status ?? 0, relayed, timedOut, bytes, ...outcome });
    };
    const fail = (error: Error, protocolError = false) => {
      up.destroy();
      finish({ status: relayed ? head!.status : 0, error, reusable: false, closeDownstream: true, protocolError });
    };
    const send = (chunk: Buffer) => {
      bytes += chunk.length;
      const out = headOut === undefined ? chunk : withHead(headOut, chunk);
      headOut = undefined;
      if (!down.write(out)) up.pause();
    };

    /** Passes body bytes on; true when the body has ended. */
    const body = (chunk: Buffer): boolean => {
      const f = head!.framing;
      if (f.type === 'close') {
        send(chunk);
        return false;
      }
      let end: number;
      if (f.type === 'length') {
        end = Math.min(remaining, chunk.length);
        remaining -= end;
      } else if (f.type === 'none') end = 0;
      else {
        const at = chunked!.scan(chunk);
        if (chunked!.error) {
          fail(new Error(`upstream sent a malformed chunked body: ${chunked!.error}`), true);
          return false;
        }
        end = at === -1 ? chunk.length : at;
      }
      if (end > 0) send(end === chunk.length ? chunk : chunk.subarray(0, end));
      const ended = f.type === 'length' ? remaining === 0 : f.type === 'none' || Boolean(chunked?.done);
      // Bytes after the end of the response: the connection is out of step; do not reuse it.
      if (ended) finish({ reusable: head!.keepAlive && end === chunk.length, closeDownstream: false });
      return ended;
    };

    const onData = (chunk: Buffer) => {
      if (head) return void body(chunk);
      pending = pending ? Buffer.concat([pending, chunk]) : chunk;
      for (;;) {
        const r = readResponseHead(pending, request.isHead);
        if (r.kind === 'incomplete') return;
        if (r.kind === 'invalid') return fail(new Error(`upstream sent an unreadable response: ${r.reason}`), true);
        const rest = pending.subarray(r.head.headLength);
        if (r.head.status < 200) {
          // 1xx informational answers (103 Early Hints) are dropped; the final one follows.
          if (r.head.status === 101) {
            const to = r.head.headers.find(([n]) => n === 'upgrade')?.[1];
            if (!request.upgrade) return fail(new Error('upstream switched protocols without being asked'), true);
            if (!sameProtocol(to, request.upgrade)) return fail(new Error(`upstream switched to "${to ?? ''}", not to the requested "${request.upgrade}"`), true);
            return finish({ status: 101, reusable: false, closeDownstream: false, switched: { head: pending!.subarray(0, r.head.headLength), parsed: r.head, protocol: to!, rest } });
          }
          pending = rest;
          continue;
        }
        head = r.head;
        pending = undefined;
        const out = decide(head);
        if (out === undefined) {
          // Dropped for a retry: reading the rest of the body is not worth it.
          up.destroy();
          return finish({ reusable: false, closeDownstream: false });
        }
        relayed = true;
        if (head.framing.type === 'length') remaining = head.framing.length;
        if (head.framing.type === 'chunked') chunked = new ChunkedScanner();
        headOut = out;
        const empty = head.framing.type === 'none' || (head.framing.type === 'length' && remaining === 0);
        if (rest.length > 0 || empty) body(rest);
        // No body bytes came with the head (or there are none): the head goes alone.
        if (headOut !== undefined && !down.destroyed) {
          down.write(headOut, 'latin1');
          headOut = undefined;
        }
        return;
      }
    };
    const onEnd = () => {
      if (head && head.framing.type === 'close') return finish({ reusable: false, closeDownstream: true });
      fail(new Error(head ? 'upstream closed the connection mid-body' : 'upstream closed the connection before answering'));
    };
    const timer = Number.isFinite(request.timeoutMs)
      ? setTimeout(() => {
          timedOut = true;
          fail(new Error('upstream request timeout'));
        }, request.timeoutMs)
      : undefined;

    if (up.destroyed || !up.writable) return fail(new Error('upstream connection closed before the request'));
    line.current = { data: onData, end: onEnd, error: (err) => fail(err) };
    downLine.current = {
      close: () => {
        up.destroy();
        finish({ status: relayed ? head!.status : 0, error: new Error('downstream closed'), reusable: false, closeDownstream: true });
      },
      drain: () => up.resume(),
    };
    if (request.body && request.body.length > 0) up.write(withHead(request.head, request.body));
    else up.write(request.head, 'latin1');
  });
}

/** A latin1 head and the bytes after it, in one buffer: one write rather than a corked pair. */
function withHead(head: string, rest: Buffer): Buffer {
  const out = Buffer.allocUnsafe(head.length + rest.length);
  out.write(head, 0, 'latin1');
  rest.copy(out, head.length);
  return out;
}

/** Upgrade protocols compare by name, case-insensitively, ignoring a version (RFC 9110 7.8). */
function sameProtocol(answered: string | undefined, requested: string): boolean {
  const name = (p: string) => p.trim().split('/')[0].toLowerCase();
  return answered !== undefined && name(answered) === name(requested.split(',')[0]);
}
