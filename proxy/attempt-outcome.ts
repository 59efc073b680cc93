// What became of one request sent upstream, in one vocabulary for every codec: the relay's
// exchange, undici's call on Node's path, an HTTP/2 stream, an upgrade. The router (retries,
// outlier detection, the response flag) reads nothing else.
import { RESPONSE_FLAGS, type ResponseFlag } from './pipeline/response-flags.js';

export interface AttemptOutcome {
  /** HTTP status, 0 when no answer came (connect failure, reset, timeout, unreadable head); 101 for an upgrade now tunnelled. */
  status: number;
  /** The answer's head went to the client: no retry, and no local answer, is possible any more. */
  relayed: boolean;
  timedOut: boolean;
  error?: Error;
  /** Body bytes relayed. */
  bytes: number;
  /** The answer could not be read (Envoy's UPE), or broke off after its head went out. */
  protocolError?: boolean;
  /** gRPC: the status of a trailers-only answer, or from the trailers of a relayed one. */
  grpcStatus?: string;
}

/** No answer: `error` says why. */
export function noAnswer(error?: Error, timedOut = false): AttemptOutcome {
  return { status: 0, relayed: false, timedOut, error, bytes: 0 };
}

/**
 * The flag of an answer relayed from upstream: DC when the caller went first; UT when the route's
 * timeout cut it off after its head (as Envoy flags it before resetting the stream); UPE when it
 * broke off otherwise.
 */
export function relayedFlag(o: AttemptOutcome): ResponseFlag {
  if (o.status === 0) return RESPONSE_FLAGS.DOWNSTREAM_CONNECTION_TERMINATION;
  return o.timedOut || o.protocolError ? brokenOffFlag(o) : RESPONSE_FLAGS.NONE;
}

/** The flag of an answer that broke off after its head went out: UT when the route's timeout cut it, else UPE. */
export function brokenOffFlag(o: Pick<AttemptOutcome, 'timedOut'>): ResponseFlag {
  return o.timedOut ? RESPONSE_FLAGS.UPSTREAM_TIMEOUT : RESPONSE_FLAGS.UPSTREAM_PROTOCOL_ERROR;
}
