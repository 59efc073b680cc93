// The request pipeline, codec-neutral, in the spirit of Envoy's HTTP filters: each per-request
// concern is one small filter with a request hook that lets the request go on, answers it
// locally, or closes the connection. Chains are built once per snapshot (only the filters a
// configuration needs), and every codec (the HTTP/1.1 relay, Node's HTTP server, HTTP/2,
// upgrades) runs the same chain on an Exchange and renders its local answers in one place.
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import type { ResponseFlag } from './response-flags.js';

/** One request as every codec sees it. */
export interface Exchange {
  method: string;
  /** The request target as sent: path and query. */
  target: string;
  /** Lower-case names, as received; filters never change them. */
  readonly headers: IncomingHttpHeaders;
  sourceIp: string;
  /** The caller's verified SPIFFE ID; undefined for plaintext. */
  peer: string | undefined;
  /** The path (and query) to forward; set by the path filter, else the target. */
  forwardPath: string;
  /** The headers to forward; filters remove and add here. */
  forwardHeaders: OutgoingHttpHeaders;
  /** What filters learned, for later filters and the record: the JWT principal and claims, the policy that decided. */
  requestPrincipal?: string;
  claims?: Record<string, unknown>;
  /** Extra access-log fields. */
  details: Record<string, unknown>;
}

/** A response the sidecar makes itself; each codec renders it (gRPC callers get a gRPC status). */
export interface LocalReply {
  status: number;
  flags: ResponseFlag;
  body: string;
  /** Headers of the answer besides content-type and length (a redirect's Location). */
  headers?: Record<string, string>;
  /** The gRPC status a gRPC caller gets; else the one for `status` (core/routing/grpc-status.ts). */
  grpcStatus?: number;
  details?: Record<string, unknown>;
}

/** Undefined: go on. A LocalReply: answer with it. 'close': end the connection without an answer. */
export type FilterOutcome = LocalReply | 'close' | undefined;

/** A filter over exchanges of type X (the inbound Exchange, or an outbound route's exchange). */
export interface Filter<X> {
  /** For logs and the docs' "where is X" table. */
  readonly name: string;
  /** Synchronous where nothing needs I/O; a filter that does may return a promise. */
  onRequest(x: X): FilterOutcome | Promise<FilterOutcome>;
}

export type RequestFilter = Filter<Exchange>;

/** Runs the filters in order until one answers; stays synchronous until a filter returns a promise. */
export function runFilters<X>(filters: readonly Filter<X>[], x: X, from = 0): FilterOutcome | Promise<FilterOutcome> {
  for (let i = from; i < filters.length; i++) {
    const out = filters[i].onRequest(x);
    if (out instanceof Promise) return out.then((o) => (o === undefined ? runFilters(filters, x, i + 1) : o));
    if (out !== undefined) return out;
  }
  return undefined;
}

/** Goes on with a chain's result now, or once it settles: a chain with no I/O costs no microtask. */
export function whenDone<T>(result: T | Promise<T>, next: (value: T) => void): void {
  if (result instanceof Promise) void result.then(next);
  else next(result);
}

/** A local reply, written once. */
export function reply(status: number, flags: ResponseFlag, body: string, details?: Record<string, unknown>): LocalReply {
  return details ? { status, flags, body, details } : { status, flags, body };
}
