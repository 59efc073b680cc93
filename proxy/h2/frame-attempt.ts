// One attempt of the outbound frame relay (outbound-frames.ts): a new upstream stream on the
// endpoint's connection, the request's body sent (again) to it, and its answer relayed to the
// caller frame by frame, with flow control both ways, unless the router is to retry it.
import type { OutgoingHttpHeaders } from 'node:http';
import type { HeaderField } from '../../core/h2/hpack.js';
import { noAnswer, type AttemptOutcome } from '../attempt-outcome.js';
import type { ClientLink, UpstreamStreamEvents } from './client-links.js';
import type { FrameBody } from './frame-body.js';
import { fieldsToMap, fieldValue, headerFields } from './frame-heads.js';
import type { FrameLink } from './frame-link.js';

/** What an attempt reads and updates of the caller's stream. */
export interface FrameCall {
  down: FrameLink;
  stream: number;
  body: FrameBody;
  /** The current attempt's upstream stream. */
  up: { link: ClientLink; id: number } | undefined;
  /** Ends the current attempt because the caller went. */
  abort: (() => void) | undefined;
  /** The status of the answer relayed to the caller (0: none yet). */
  answered: number;
  /** Answer bytes passed to the caller and not yet credited upstream (the caller's window was full). */
  heldUp: number;
  done: boolean;
}

/**
 * One attempt: a new upstream stream with the request's head, the body sent (again) to it, and
 * its answer relayed to the caller unless `keep` says it is to be retried, or it failed before
 * any answer. A caller that has gone ends it (relayed, status 0: no retry, no answer).
 */
export function frameAttempt(
  call: FrameCall,
  connect: () => ClientLink,
  head: HeaderField[],
  timeoutMs: number,
  keep: (status: number, grpcStatus?: string) => boolean,
  edit: ((h: OutgoingHttpHeaders) => void) | undefined,
): Promise<AttemptOutcome> {
  return new Promise((resolve) => {
    if (call.done) return resolve({ status: 0, relayed: true, timedOut: false, bytes: 0 });
    let status = 0;
    let grpcStatus: string | undefined;
    let bytes = 0;
    let responded = false;
    let settled = false;
    let link: ClientLink;
    let id = 0;
    let timer: NodeJS.Timeout | undefined;
    const settle = (o: AttemptOutcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      call.abort = undefined;
      if (!o.relayed) call.body.release(link, id);
      resolve(o);
    };
    const relayed = (protocolError = false): AttemptOutcome => ({ status, relayed: true, timedOut: false, bytes, grpcStatus, protocolError });
    const events: UpstreamStreamEvents = {
      headers: (fields, end, trailers) => {
        if (trailers) {
          grpcStatus = fieldValue(fields, 'grpc-status') ?? grpcStatus;
          call.down.conn.sendHeaders(call.stream, fields, true);
          return settle(relayed());
        }
        status = Number(fieldValue(fields, ':status'));
        const trailersOnly = fieldValue(fields, 'grpc-status');
        if (!keep(status, trailersOnly)) {
          link.cancel(id);
          return settle({ status, relayed: false, timedOut: false, bytes: 0, grpcStatus: trailersOnly });
        }
        responded = true;
        grpcStatus = trailersOnly;
        call.answered = status;
        call.down.conn.sendHeaders(call.stream, edit ? editedHead(fields, status, edit) : fields, end);
        if (end) settle(relayed());
      },
      data: (chunk, end) => {
        bytes += chunk.length;
        if (call.down.conn.sendData(call.stream, chunk, end) && !call.down.backlogged) link.consumed(id, chunk.length);
        else call.heldUp += chunk.length;
        if (end) settle(relayed());
      },
      broken: (err) => {
        if (!responded) return settle(noAnswer(err));
        call.down.conn.reset(call.stream, 'INTERNAL_ERROR');
        settle(relayed(true));
      },
      writable: () => call.body.writable(),
    };
    try {
      link = connect();
      id = link.open(head, call.body.empty, events);
    } catch (err) {
      return resolve(noAnswer(err as Error));
    }
    call.up = { link, id };
    call.abort = () => {
      link.cancel(id);
      settle({ status: 0, relayed: true, timedOut: false, bytes: 0 });
    };
    if (Number.isFinite(timeoutMs))
      timer = setTimeout(() => {
        link.cancel(id);
        if (!responded) return settle(noAnswer(undefined, true));
        call.down.conn.reset(call.stream, 'INTERNAL_ERROR');
        settle({ ...relayed(), timedOut: true });
      }, timeoutMs);
    call.body.sendTo(link, id);
  });
}

/** An answer's head edited by the route's rules and the filters' hooks: `:status` first, then the edited headers. */
function editedHead(fields: HeaderField[], status: number, edit: (h: OutgoingHttpHeaders) => void): HeaderField[] {
  const map = fieldsToMap(fields);
  edit(map);
  return [{ name: ':status', value: String(status) }, ...headerFields(map)];
}
