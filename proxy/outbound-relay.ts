// The outbound side on the HTTP/1.1 relay: the same route filters (pipeline/outbound-chain.ts)
// and the same routing, balancing, retries, timeouts, header rules, metrics and spans as the
// Node HTTP path (proxy/outbound.ts, through outbound-route.ts), with the request written
// upstream as bytes and the response passed back as bytes. A route with a filter that cannot
// run here (mirroring) goes to the full path; the connection then stays there.
import { STATUS_CODES } from 'node:http';
import { endpointKey } from '../core/routing/balancer.js';
import { localResponseText, passedOnHeadText, requestHeadText, responseHeadText, responseHeaderMap } from '../core/http1/serialize.js';
import type { OutboundDeps } from './outbound.js';
import {
  attempts,
  chooseCluster,
  editResponseHeaders,
  editsNoResponseHeaders,
  hashKey,
  labelEndpoint,
  outboundExchange,
  outsideTheMesh,
  outboundLabels,
  recordOutbound,
  requestedService,
  resolveRoute,
  upstreamRequest,
  viaOf,
  defaultAuthority,
  type ListenerBinding,
  type FinishedRequest,
  type RequestView,
} from './outbound-route.js';
import type { RelayRequest, RelayVerdict } from './relay/downstream.js';
import { forwardableHeaders } from './http-util.js';
import { pooledExchange, settled, type PooledUpstream } from './relay/pooled-exchange.js';
import { runFilters, type LocalReply } from './pipeline/filter.js';
import { NO_DESTINATION, passthroughFailure, upstreamFailure } from './pipeline/local-replies.js';
import { routeChain } from './pipeline/outbound-chain.js';
import { RESPONSE_FLAGS } from './pipeline/response-flags.js';

export async function relayOutbound(deps: OutboundDeps, rr: RelayRequest, binding?: ListenerBinding): Promise<RelayVerdict> {
  const { head, body, socket, closeAfter } = rr;
  const random = deps.random ?? Math.random;
  const current = deps.config();
  const authority = head.headers.host ?? defaultAuthority(binding);
  const via = viaOf(binding, socket);
  const requested = requestedService(current, authority, via);
  const req: RequestView = { method: head.method, url: head.target, headers: head.headers, socket };
  const f: FinishedRequest = { req, authority, service: requested, labels: outboundLabels(current, requested), started: performance.now(), reqBytes: body.length, span: undefined };
  // The relay renders every local answer here.
  const sendLocalReply = (r: LocalReply): RelayVerdict => {
    socket.write(localResponseText(r.status, STATUS_CODES[r.status] ?? '', r.flags, r.body, closeAfter, r.headers));
    recordOutbound(deps, f, r.status, r.flags, Buffer.byteLength(r.body), r.details);
    return closeAfter ? 'close' : 'done';
  };

  const resolved = resolveRoute(current, requested, req, authority, f);
  if ('status' in resolved) {
    const outside = outsideTheMesh(deps, current, requested, authority, via, resolved, f.labels);
    return 'status' in outside ? sendLocalReply(outside) : passthrough(deps, rr, outside, f, sendLocalReply);
  }
  const { cfg, service, route, url } = resolved;
  // The route's filters, when every one of them can run here (an allow-list: a filter that has
  // not said so sends the connection to Node's path, before anything is written).
  const chain = routeChain(route, deps.tracer);
  if (!chain.relayable) return 'full-parser';
  const x = outboundExchange(req, authority, service, route, url, random);
  const ran = runFilters(chain.filters, x);
  const out = ran instanceof Promise ? await ran : ran;
  f.span = x.span;
  if (out === 'close') {
    socket.destroy();
    return 'close';
  }
  if (out) return sendLocalReply(out);
  if (route.action.type !== 'route') return sendLocalReply(NO_DESTINATION);

  const chosen = chooseCluster(deps, cfg, route.action.destinations, f, random);
  if ('status' in chosen) return sendLocalReply(chosen);
  const { dest, entry } = chosen;

  // The client's Content-Length (if any) is passed on: the body is forwarded exactly as it came.
  const { method, path, headers } = upstreamRequest(cfg, route, dest, entry.cluster, req, url, service, undefined);
  const request = { head: requestHeadText(method, path, headers), body, isHead: method === 'HEAD' };
  let closeDownstream = false;
  const result = await attempts(
    deps,
    entry,
    route,
    dest.cluster,
    hashKey(entry.cluster.lb, req),
    true,
    random,
    (e) => labelEndpoint(cfg, f.labels, entry, e),
    async (endpoint, timeoutMs, keep) => {
      const upstream: PooledUpstream = {
        acquire: (fresh) => deps.pool.acquireSocket(entry.cluster, endpoint, fresh),
        release: (up, reusable) => deps.pool.releaseSocket(up, reusable, entry.cluster),
        wasUsed: (up) => deps.pool.wasUsed(up),
      };
      const outcome = await pooledExchange(upstream, { head: request.head, body: request.body, isHead: request.isHead, timeoutMs }, socket, (h) => {
        if (!keep(h.status)) return undefined;
        if (editsNoResponseHeaders(route, dest, x.responseHooks)) return passedOnHeadText(h, closeAfter || h.framing.type === 'close');
        const out = responseHeaderMap(h);
        editResponseHeaders(out, route, dest, x.responseHooks);
        return responseHeadText(h, out, closeAfter || h.framing.type === 'close');
      });
      closeDownstream = outcome.closeDownstream;
      return outcome;
    },
  );
  const done = settled(
    { status: result.status, relayed: result.relayed, error: result.error, bytes: result.bytes, closeDownstream, timedOut: result.timedOut },
    socket,
    closeAfter,
    (status, flags, bytes) => recordOutbound(deps, f, status, flags, bytes, flags === RESPONSE_FLAGS.NONE && result.endpoint ? { upstream_host: endpointKey(result.endpoint) } : {}),
  );
  if (done) return done;
  return sendLocalReply(upstreamFailure(result));
}

/** ALLOW_ANY: the request, as it came, to the host it names outside the mesh. */
async function passthrough(deps: OutboundDeps, rr: RelayRequest, target: { host: string; port: number }, f: FinishedRequest, sendLocalReply: (r: LocalReply) => RelayVerdict): Promise<RelayVerdict> {
  const { head, body, socket, closeAfter } = rr;
  const upstream: PooledUpstream = {
    acquire: (fresh) => deps.pool.acquirePassthrough(target.host, target.port, fresh),
    release: (up, reusable) => deps.pool.releasePassthrough(up, reusable),
    wasUsed: (up) => deps.pool.wasUsed(up),
  };
  const outcome = await pooledExchange(
    upstream,
    { head: requestHeadText(head.method, head.target, forwardableHeaders(head.headers)), body, isHead: head.method === 'HEAD', timeoutMs: Infinity },
    socket,
    (h) => passedOnHeadText(h, closeAfter || h.framing.type === 'close'),
  );
  const done = settled(outcome, socket, closeAfter, (status, flags, bytes) =>
    recordOutbound(deps, f, status, flags, bytes, flags === RESPONSE_FLAGS.NONE ? { upstream_host: `${target.host}:${target.port}` } : {}),
  );
  if (done) return done;
  return sendLocalReply(passthroughFailure(target, outcome));
}
