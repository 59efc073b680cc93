// The per-route filters of the outbound side (each one job, built only where a route needs it):
// the request id, the client span, the route's own answer (direct response, redirect), fault
// injection (abort, delay) and the mirror decision. Routing, retries and header rules follow,
// in the router of each codec (outbound-route.ts). `relayable` says whether the HTTP/1.1 relay
// can carry a request through the filter; a route is relayed only if all its filters can be.
import { randomUUID } from 'node:crypto';
import type { CompiledHttpRoute, OutboundService } from '../../../core/snapshot/types.js';
import type { ActiveSpan, Tracer } from '../../tracer.js';
import { reply, type Filter, type LocalReply } from '../filter.js';
import { RESPONSE_FLAGS } from '../response-flags.js';
import type { IncomingHttpHeaders } from 'node:http';
import type { HeaderMap } from '../../../core/http1/header-ops.js';

/** One outbound request as every codec sees it, once its route is known. */
export interface OutboundExchange {
  method: string;
  /** Path and query as sent. */
  target: string;
  /** The request's headers; filters may add (x-request-id, trace context), and the router forwards them. */
  headers: IncomingHttpHeaders;
  authority: string;
  service: OutboundService;
  route: CompiledHttpRoute;
  pathname: string;
  search: string;
  random: () => number;
  /** Set by the span filter; the record of the request ends it. */
  span?: ActiveSpan;
  /** Set by the mirror filters: the clusters that get a copy. */
  mirrorClusters?: string[];
  /** Registered by filters: each edits the upstream's response headers before they go to the caller. */
  responseHooks: ((headers: HeaderMap) => void)[];
}

export interface RouteFilter extends Filter<OutboundExchange> {
  readonly relayable: boolean;
}

export const requestId: RouteFilter = {
  name: 'request-id',
  relayable: true,
  onRequest: (x) => {
    if (!x.headers['x-request-id']) x.headers['x-request-id'] = randomUUID();
    return undefined;
  },
};

/** The client span; its context reaches the upstream in `traceparent`, set on the request's headers. */
export function clientSpan(tracer: Tracer): RouteFilter {
  return {
    name: 'client-span',
    relayable: true,
    onRequest: (x) => {
      x.span = tracer.begin('client', `${x.authority}/*`, x.headers, x.headers);
      return undefined;
    },
  };
}

export function directResponse(status: number, body: string): RouteFilter {
  return { name: 'direct-response', relayable: true, onRequest: () => reply(status, RESPONSE_FLAGS.DIRECT_RESPONSE, body) };
}

export function redirect(action: { code: number; scheme?: string; authority?: string; port?: number; uri?: string }): RouteFilter {
  return {
    name: 'redirect',
    relayable: true,
    onRequest: (x) => ({ status: action.code, flags: RESPONSE_FLAGS.DIRECT_RESPONSE, body: '', headers: { location: redirectLocation(action, x.authority, x.pathname + x.search) } }),
  };
}

/** The Location of a VirtualService redirect. */
export function redirectLocation(action: { scheme?: string; authority?: string; port?: number; uri?: string }, authority: string, pathAndQuery: string): string {
  return `${action.scheme ?? 'http'}://${action.authority ?? authority.replace(/:\d+$/, '')}${action.port ? `:${action.port}` : ''}${action.uri ?? pathAndQuery}`;
}

export function faultAbort(abort: { percent: number; status: number; grpcStatus?: number }): RouteFilter {
  const answer: LocalReply = { ...reply(abort.status, RESPONSE_FLAGS.FAULT_INJECTED, 'fault filter abort\n'), ...(abort.grpcStatus !== undefined ? { grpcStatus: abort.grpcStatus } : {}) };
  return {
    name: 'fault-abort',
    relayable: true,
    onRequest: (x) => (x.random() * 100 < abort.percent ? answer : undefined),
  };
}

export function faultDelay(delay: { percent: number; delayMs: number }): RouteFilter {
  return {
    name: 'fault-delay',
    relayable: true,
    onRequest: (x) => (x.random() * 100 < delay.percent ? new Promise<undefined>((r) => setTimeout(() => r(undefined), delay.delayMs)) : undefined),
  };
}

/** Decides whether this request is mirrored; the codec sends the copy, since it holds the body. */
export function mirror(m: { cluster: string; percent: number }): RouteFilter {
  return {
    name: 'mirror',
    relayable: false,
    onRequest: (x) => {
      if (x.random() * 100 < m.percent) (x.mirrorClusters ??= []).push(m.cluster);
      return undefined;
    },
  };
}
