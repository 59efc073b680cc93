// The sidecar's own answers that are not a filter's: each written once, for every codec, which
// renders a LocalReply in one place (`sendLocalReply` in each codec; a gRPC caller gets the
// gRPC status for it). Status, flag and text come from here and nowhere else.
import type { AttemptOutcome } from '../attempt-outcome.js';
import { reply, type LocalReply } from './filter.js';
import { RESPONSE_FLAGS, type ResponseFlag } from './response-flags.js';

export const NO_CONFIGURATION: LocalReply = reply(503, RESPONSE_FLAGS.NO_ROUTE, 'the sidecar has no configuration yet\n');

/** A route whose action is neither a destination nor an answer of its own (the compiler never makes one). */
export const NO_DESTINATION: LocalReply = reply(500, RESPONSE_FLAGS.NO_ROUTE, 'the route has no destination\n');

export const NO_HEALTHY_UPSTREAM: LocalReply = reply(503, RESPONSE_FLAGS.NO_HEALTHY_UPSTREAM, 'no healthy upstream\n');

export const UPSTREAM_OVERFLOW: LocalReply = reply(503, RESPONSE_FLAGS.UPSTREAM_OVERFLOW, 'upstream connect error or disconnect/reset before headers. reset reason: overflow\n');

/** Envoy's NC: the route names a subset (a cluster) that no DestinationRule defines. */
export function noCluster(cluster: string): LocalReply {
  return reply(503, RESPONSE_FLAGS.NO_CLUSTER, `no cluster ${cluster} (is the subset defined in a DestinationRule?)\n`);
}

/**
 * No usable answer from the mesh upstream after every attempt: 502 UPE for an answer that could
 * not be read, 504 UT for a timeout, else 503 with the attempts' flag (UF, UH).
 */
export function upstreamFailure(result: AttemptOutcome & { flags: ResponseFlag }): LocalReply {
  if (result.protocolError) return reply(502, RESPONSE_FLAGS.UPSTREAM_PROTOCOL_ERROR, `upstream protocol error: ${result.error?.message ?? 'unreadable answer'}\n`);
  if (result.timedOut) return reply(504, RESPONSE_FLAGS.UPSTREAM_TIMEOUT, 'upstream request timeout\n');
  return reply(503, result.flags, `upstream connect error or disconnect/reset before headers: ${result.error?.message ?? 'no healthy upstream'}\n`);
}

/** No usable answer from the application behind the inbound side. */
export function applicationFailure(outcome: AttemptOutcome): LocalReply {
  if (outcome.protocolError) return reply(502, RESPONSE_FLAGS.UPSTREAM_PROTOCOL_ERROR, `the application's answer is not valid HTTP: ${outcome.error?.message ?? 'unreadable answer'}\n`);
  return reply(503, RESPONSE_FLAGS.UPSTREAM_CONNECTION_FAILURE, `the application did not answer: ${outcome.error?.message ?? 'connection failed'}\n`);
}

/** ALLOW_ANY passthrough to a host outside the mesh that gave no usable answer. */
export function passthroughFailure(target: { host: string; port: number }, outcome: AttemptOutcome): LocalReply {
  const [status, flags] = outcome.protocolError ? [502, RESPONSE_FLAGS.UPSTREAM_PROTOCOL_ERROR] : [503, RESPONSE_FLAGS.UPSTREAM_CONNECTION_FAILURE];
  return reply(status, flags, `passthrough to ${target.host}:${target.port} failed: ${outcome.error?.message ?? 'connection failed'}\n`);
}
