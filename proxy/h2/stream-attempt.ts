// One exchange of an HTTP/2 stream with the next hop, shared by the outbound side (each
// attempt of a retried stream, and passthrough) and the inbound side (to an h2c application).
import { constants, type ClientHttp2Stream, type IncomingHttpHeaders, type IncomingHttpStatusHeader, type OutgoingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import { noAnswer, type AttemptOutcome } from '../attempt-outcome.js';
import type { ReplayableBody } from './replayable-body.js';
import { relayAnswer } from './streams.js';
import { addAbortSignal, PassThrough } from 'node:stream';

/**
 * One attempt: a new upstream stream, the body sent (again) to it, and its answer relayed to the
 * caller unless `keep` says it is to be retried, or failed before any answer. An answer already
 * relayed ends the attempts; so does a caller that has gone (relayed, status 0).
 */
export function streamAttempt(
  stream: ServerHttp2Stream,
  body: ReplayableBody,
  open: () => ClientHttp2Stream,
  timeoutMs: number,
  keep: (status: number, grpcStatus?: string) => boolean,
  editAnswer: (h: OutgoingHttpHeaders) => void,
): Promise<AttemptOutcome> {
  return new Promise((resolve) => {
    if (stream.destroyed) return resolve({ status: 0, relayed: true, timedOut: false, bytes: 0 });
    let up: ClientHttp2Stream;
    try {
      up = open();
    } catch (err) {
      return resolve(noAnswer(err as Error));
    }
    // RST_STREAM CANCEL with no END_STREAM before it, so a cut-off upload never looks complete
    // upstream (close() would end the stream first). Node resets with CANCEL a stream destroyed
    // with an AbortError; made only when a stream is cancelled, where an AbortSignal per stream
    // cost about a twentieth of a call's CPU.
    const cancel = () => {
      if (!up.destroyed) up.destroy(abortError());
    };
    stream.once('aborted', cancel);
    let done = false;
    let responded = false;
    let timedOut = false;
    const finish = (outcome: AttemptOutcome) => {
      if (done) return;
      done = true;
      // The route's timeout cut off an answer already relayed: UT, not the reset's UPE.
      if (timedOut && outcome.relayed) outcome = { ...outcome, timedOut: true };
      clearTimeout(timer);
      stream.off('aborted', cancel);
      if (!outcome.relayed) body.release(up);
      resolve(outcome);
    };
    const timer = Number.isFinite(timeoutMs)
      ? setTimeout(() => {
          timedOut = true;
          cancel();
          if (!responded) finish(noAnswer(undefined, true));
        }, timeoutMs)
      : undefined;
    body.sendTo(up);
    up.once('response', (head: IncomingHttpHeaders & IncomingHttpStatusHeader, flags: number) => {
      const status = Number(head[':status']);
      const trailersOnly = typeof head['grpc-status'] === 'string' ? head['grpc-status'] : undefined;
      if (!keep(status, trailersOnly)) {
        cancel();
        return finish({ status, relayed: false, timedOut: false, bytes: 0, grpcStatus: trailersOnly });
      }
      responded = true;
      void relayAnswer(stream, up, cancel, head, editAnswer, (flags & constants.NGHTTP2_FLAG_END_STREAM) !== 0).then(finish);
    });
    up.on('error', (err: Error) => {
      if (!responded) finish(noAnswer(err));
    });
    up.once('close', () => {
      if (!responded) finish(noAnswer(new Error('upstream reset before headers')));
    });
  });
}

/** Node's own AbortError (the class its HTTP/2 code maps to CANCEL), as its streams make it for an aborted signal. */
export function abortError(): Error {
  const probe = new PassThrough();
  probe.on('error', () => undefined);
  addAbortSignal(AbortSignal.abort(), probe);
  return probe.errored ?? new Error('cancelled');
}
