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

export function exchange(up: Duplex, request: ExchangeRequest, down: Duplex, decide: Decide): Promise<ExchangeOutcome> {
  return new Promise((resolve) => {
    let pending: Buffer | undefined;
    let head: ResponseHead | undefined;
    let relayed = false;
    let timedOut = false;
    let bytes = 0;
    let remaining = 0;
    let chunked: ChunkedScanner | undefined;
    let settled = false;

    const finish = (outcome: Omit<ExchangeOutcome, 'relayed' | 'timedOut' | 'bytes' | 'status'> & { status?: number }) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      up.off('data', onData).off('end', onEnd).off('error', onError).off('close', onClose);
      down.off('close', onDownClose).off('drain', onDrain);
      // A switched connection keeps its bytes for whoever joins it; otherwise drain what is left.
      if (outcome.switched) up.pause();
      else if (up.isPaused()) up.resume();
      resolve({ status: outcome.status ?? head?.status ?? 0, relayed, timedOut, bytes, ...outcome });
    };
    const fail = (error: Error, protocolError = false) => {
      up.destroy();
      finish({ status: relayed ? head!.status : 0, error, reusable: false, closeDownstream: true, protocolError });
    };
    const send = (chunk: Buffer) => {
      bytes += chunk.length;
      if (!down.write(chunk)) up.pause();
    };
    const onDrain = () => up.resume();

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
            const to = r.head.headers.find(([n]) => n.toLowerCase() === 'upgrade')?.[1];
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
        // The head and the first body bytes go out in one write.
        down.cork();
        down.write(out, 'latin1');
        const empty = head.framing.type === 'none' || (head.framing.type === 'length' && remaining === 0);
        if (rest.length > 0 || empty) body(rest);
        down.uncork();
        return;
      }
    };
    const onEnd = () => {
      if (head && head.framing.type === 'close') return finish({ reusable: false, closeDownstream: true });
      fail(new Error(head ? 'upstream closed the connection mid-body' : 'upstream closed the connection before answering'));
    };
    const onError = (err: Error) => fail(err);
    const onClose = () => onEnd();
    const onDownClose = () => {
      up.destroy();
      finish({ status: relayed ? head!.status : 0, error: new Error('downstream closed'), reusable: false, closeDownstream: true });
    };
    const timer = Number.isFinite(request.timeoutMs)
      ? setTimeout(() => {
          timedOut = true;
          fail(new Error('upstream request timeout'));
        }, request.timeoutMs)
      : undefined;

    if (up.destroyed || !up.writable) return fail(new Error('upstream connection closed before the request'));
    up.on('data', onData).on('end', onEnd).on('error', onError).on('close', onClose);
    down.on('close', onDownClose).on('drain', onDrain);
    if (request.body && request.body.length > 0) {
      up.cork();
      up.write(request.head, 'latin1');
      up.write(request.body);
      up.uncork();
    } else up.write(request.head, 'latin1');
  });
}

/** Upgrade protocols compare by name, case-insensitively, ignoring a version (RFC 9110 7.8). */
function sameProtocol(answered: string | undefined, requested: string): boolean {
  const name = (p: string) => p.trim().split('/')[0].toLowerCase();
  return answered !== undefined && name(answered) === name(requested.split(',')[0]);
}
