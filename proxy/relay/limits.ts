import type { RelayLimits } from './downstream.js';

/** Request bodies up to this size are read whole by the relay (and can be retried); larger ones stream through Node's path. */
const RELAY_MAX_BODY = 64 * 1024;

export function relayLimits(o: { headersTimeoutMs: number; idleTimeoutMs: number }): RelayLimits {
  return { headersTimeoutMs: o.headersTimeoutMs, idleTimeoutMs: o.idleTimeoutMs, maxBodyBytes: RELAY_MAX_BODY };
}
