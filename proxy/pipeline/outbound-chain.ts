// The outbound chain of each route, built once per snapshot (cached by the route object, which
// a snapshot swap replaces) with only the filters the route needs. Reading `routeChain` answers
// "where is X" for the outbound side; the router after it (outbound-route.ts) picks the cluster
// and endpoint, applies header rules and rewrites, retries and times out.
import type { CompiledHttpRoute } from '../../core/snapshot/types.js';
import type { Tracer } from '../tracer.js';
import { cors } from './outbound/cors.js';
import { clientSpan, directResponse, faultAbort, faultDelay, mirror, redirect, requestId, type RouteFilter } from './outbound/route-filters.js';

export interface RouteChain {
  filters: RouteFilter[];
  /** Every filter can run on the HTTP/1.1 relay: an allow-list, so a new filter is not relayed until it says it can be. */
  relayable: boolean;
}

const chains = new WeakMap<CompiledHttpRoute, WeakMap<object, RouteChain>>();
const NO_TRACER = {};

export function routeChain(route: CompiledHttpRoute, tracer: Tracer | undefined): RouteChain {
  let byTracer = chains.get(route);
  if (!byTracer) chains.set(route, (byTracer = new WeakMap()));
  let chain = byTracer.get(tracer ?? NO_TRACER);
  if (!chain) {
    chain = buildRouteChain(route, tracer);
    byTracer.set(tracer ?? NO_TRACER, chain);
  }
  return chain;
}

export function buildRouteChain(route: CompiledHttpRoute, tracer: Tracer | undefined): RouteChain {
  const filters: RouteFilter[] = [requestId];
  if (tracer) filters.push(clientSpan(tracer));
  if (route.cors) filters.push(cors(route.cors));
  const action = route.action;
  if (action.type === 'direct') filters.push(directResponse(action.status, action.body ?? ''));
  else if (action.type === 'redirect') filters.push(redirect(action));
  else {
    if (route.fault?.abort) filters.push(faultAbort(route.fault.abort));
    if (route.fault?.delay) filters.push(faultDelay(route.fault.delay));
    if (route.mirror) filters.push(mirror(route.mirror));
    for (const m of route.mirrors ?? []) filters.push(mirror(m));
  }
  return { filters, relayable: filters.every((f) => f.relayable) };
}
