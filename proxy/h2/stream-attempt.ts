// One exchange of an HTTP/2 stream with the next hop, shared by the outbound side (each
// attempt of a retried stream, and passthrough) and the inbound side (to an h2c application).
import { constants, type ClientHttp2Stream, type IncomingHttpHeaders, type IncomingHttpStatusHeader, type OutgoingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import { noAnswer, type AttemptOutcome } from '../attempt-outcome.js';
import type { ReplayableBody } from './replayable-body.js';
import { relayAnswer } from './streams.js';

/**
 * One attempt: a new upstream stream, the body sent (again) to it, and its answer relayed to the
 * caller unless `keep` says it is to be retried, or failed before any answer. An answer already
 * relayed ends the attempts; so does a caller that has gone (relayed, status 0).
 */
export function streamAttempt(
  stream: ServerHttp2Stream,
  body: ReplayableBody,
  open: (signal: AbortSignal) => ClientHttp2Stream,
  timeoutMs: number,
  keep: (status: number, grpcStatus?: string) => boolean,
  editAnswer: (h: OutgoingHttpHeaders) => void,
): Promise<AttemptOutcome> {
  return new Promise((resolve) => {
    if (stream.destroyed) return resolve({ status: 0, relayed: true, timedOut: false, bytes: 0 });
    // Aborting the signal resets the upstream stream with RST_STREAM CANCEL and no END_STREAM
    // before it (Node's stream.close() would end it first: a cut-off upload would look complete).
    const cancel = new AbortController();
    let up: ClientHttp2Stream;
    try {
      up = open(cancel.signal);
    } catch (err) {
      return resolve(noAnswer(err as Error));
    }
    const onCallerGone = () => cancel.abort();
    stream.once('aborted', onCallerGone);
    let done = false;
    let responded = false;
    const finish = (outcome: AttemptOutcome) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      stream.off('aborted', onCallerGone);
      if (!outcome.relayed) body.release(up);
      resolve(outcome);
    };
    const timer = Number.isFinite(timeoutMs)
      ? setTimeout(() => {
          cancel.abort();
          if (!responded) finish(noAnswer(undefined, true));
        }, timeoutMs)
      : undefined;
    body.sendTo(up);
    up.once('response', (head: IncomingHttpHeaders & IncomingHttpStatusHeader, flags: number) => {
      const status = Number(head[':status']);
      const trailersOnly = typeof head['grpc-status'] === 'string' ? head['grpc-status'] : undefined;
      if (!keep(status, trailersOnly)) {
        cancel.abort();
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
