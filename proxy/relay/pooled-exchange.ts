// An exchange on a pooled upstream connection, and what its end means for the client
// connection: the pieces every relay path (outbound, passthrough, inbound) shares.
import type { Duplex } from 'node:stream';
import { exchange, type Decide, type ExchangeOutcome, type ExchangeRequest } from './exchange.js';
import type { RelayVerdict } from './downstream.js';
import { RESPONSE_FLAGS, type ResponseFlag } from '../pipeline/response-flags.js';
import { brokenOffFlag } from '../attempt-outcome.js';

/** Kept-alive connections to one destination. `fresh`: drop the idle ones and open a new one. */
export interface PooledUpstream {
  acquire(fresh: boolean): Promise<Duplex>;
  release(socket: Duplex, reusable: boolean): void;
  wasUsed(socket: Duplex): boolean;
}

const failed = (error: Error): ExchangeOutcome => ({ status: 0, relayed: false, timedOut: false, error, bytes: 0, reusable: false, closeDownstream: false });

/**
 * One request and its answer. A kept-alive connection that died while idle (the peer closed it,
 * restarted, or its network namespace went away) fails before any answer, with nothing of the
 * request processed: it goes once more on a new connection, which costs no retry.
 */
export async function pooledExchange(upstream: PooledUpstream, request: ExchangeRequest, down: Duplex, decide: Decide): Promise<ExchangeOutcome> {
  for (let fresh = false; ; fresh = true) {
    let up: Duplex;
    try {
      up = await upstream.acquire(fresh);
    } catch (err) {
      return failed(err as Error);
    }
    if (down.destroyed) {
      upstream.release(up, false);
      return failed(new Error('downstream closed'));
    }
    const reused = upstream.wasUsed(up);
    const outcome = await exchange(up, request, down, decide);
    upstream.release(up, outcome.reusable);
    const stale = reused && outcome.status === 0 && !outcome.relayed && !outcome.timedOut && !outcome.protocolError;
    if (!stale || fresh || down.destroyed) return outcome;
  }
}

/**
 * The client connection after an exchange: a verdict when the answer went out (whole, or broken
 * off after its head, which leaves only closing) or the client left; undefined when nothing
 * went out and the caller may still answer itself. `record(status, flags, bytes)`.
 */
export function settled(
  outcome: Pick<ExchangeOutcome, 'status' | 'relayed' | 'error' | 'bytes' | 'closeDownstream' | 'timedOut'>,
  down: Duplex,
  closeAfter: boolean,
  record: (status: number, flags: ResponseFlag, bytes: number) => void,
): RelayVerdict | undefined {
  if (outcome.relayed && !outcome.error) {
    record(outcome.status, RESPONSE_FLAGS.NONE, outcome.bytes);
    return closeAfter || outcome.closeDownstream ? 'close' : 'done';
  }
  if (outcome.relayed) {
    down.destroy();
    record(outcome.status, brokenOffFlag(outcome), outcome.bytes);
    return 'close';
  }
  if (down.destroyed) {
    record(0, RESPONSE_FLAGS.DOWNSTREAM_CONNECTION_TERMINATION, 0);
    return 'close';
  }
  return undefined;
}
