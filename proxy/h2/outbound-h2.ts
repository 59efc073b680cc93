// The outbound side for HTTP/2 and gRPC from the application (cleartext h2c; the listener
// recognises the client preface): the same routing, subsets, header rules, timeouts, faults,
// connection-pool limits and telemetry as HTTP/1.1, with each stream carried on a shared
// HTTP/2 session over mTLS (ALPN h2) to the chosen endpoint's sidecar. Retries as for HTTP/1.1,
// plus gRPC's conditions on a trailers-only grpc-status: the body is streamed to the first
// attempt and kept up to 1 MiB to be sent again (proxy/h2/replayable-body.ts).
import { constants, type IncomingHttpHeaders, type IncomingHttpStatusHeader, type OutgoingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import { endpointKey } from '../../core/routing/balancer.js';
import { MAX_RETRY_BODY, type OutboundDeps } from '../outbound.js';
import { forwardableHeaders } from '../http-util.js';
import {
  attempts,
  chooseCluster,
  editResponseHeaders,
  hashKey,
  labelEndpoint,
  mirrorEndpoint,
  shadowAuthority,
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
} from '../outbound-route.js';
import { runFilters, whenDone, type FilterOutcome, type LocalReply } from '../pipeline/filter.js';
import { NO_DESTINATION, passthroughFailure, upstreamFailure } from '../pipeline/local-replies.js';
import { routeChain } from '../pipeline/outbound-chain.js';
import type { OutboundExchange } from '../pipeline/outbound/route-filters.js';
import { RESPONSE_FLAGS } from '../pipeline/response-flags.js';
import type { WeightedCluster } from '../../core/snapshot/types.js';
import { ReplayableBody } from './replayable-body.js';
import { relayedFlag } from '../attempt-outcome.js';
import { streamAttempt } from './stream-attempt.js';
import type { RuntimeConfig } from '../runtime-config.js';
import { isGrpc, renderLocalReply, nextHopHeaders, streamRequest } from './streams.js';

export function handleOutboundStream(deps: OutboundDeps, stream: ServerHttp2Stream, headers: IncomingHttpHeaders, binding?: ListenerBinding): void {
  const random = deps.random ?? Math.random;
  const current = deps.config();
  const req = streamRequest(stream, headers);
  const grpc = isGrpc(headers);
  const authority = String(req.headers.host || defaultAuthority(binding));
  const via = viaOf(binding, stream.session?.socket);
  const requested = requestedService(current, authority, via);
  const f: FinishedRequest = { req, authority, service: requested, labels: outboundLabels(current, requested), started: performance.now(), reqBytes: 0, span: undefined };
  f.labels.request_protocol = grpc ? 'grpc' : 'http';
  // The HTTP/2 codec renders every local answer here; the metric records what the wire says.
  const sendLocalReply = (r: LocalReply) => {
    const wire = renderLocalReply(stream, grpc, r);
    f.labels.grpc_response_status = wire.grpcStatus;
    recordOutbound(deps, f, wire.status, r.flags, Buffer.byteLength(r.body), r.details);
  };

  const resolved = resolveRoute(current, requested, req, authority, f);
  if ('status' in resolved) {
    const target = outsideTheMesh(deps, current, requested, authority, via, resolved, f.labels);
    if ('status' in target) return sendLocalReply(target);
    // ALLOW_ANY: the stream, as it came, over h2c to the host it names (or was dialled to).
    const body = new ReplayableBody(stream, 0);
    const forward = nextHopHeaders(req.method ?? 'GET', req.url ?? '/', forwardableHeaders(req.headers), headers.te);
    void streamAttempt(
      stream,
      body,
      () => deps.pool.h2Passthrough(target.host, target.port).request(forward),
      Infinity,
      () => true,
      () => undefined,
    ).then((o) => {
      f.reqBytes = body.bytes;
      f.labels.grpc_response_status = o.grpcStatus ?? '';
      if (o.relayed) return recordOutbound(deps, f, o.status, relayedFlag(o), o.bytes, { upstream_host: `${target.host}:${target.port}` });
      sendLocalReply(passthroughFailure(target, o));
    });
    return;
  }
  const { cfg, service, route, url } = resolved;
  // The route's filters (pipeline/outbound-chain.ts), then the router.
  const x = outboundExchange(req, authority, service, route, url, random);
  const ran = runFilters(routeChain(route, deps.tracer).filters, x);
  const proceed = (out: FilterOutcome) => {
    f.span = x.span;
    if (out === 'close') return void stream.close(constants.NGHTTP2_REFUSED_STREAM);
    if (out) return sendLocalReply(out);
    if (route.action.type !== 'route') return sendLocalReply(NO_DESTINATION);
    routeStream(route.action.destinations, x.mirrorClusters, x.responseHooks);
  };
  whenDone(ran, proceed);

  function routeStream(destinations: WeightedCluster[], mirrorClusters: string[] | undefined, responseHooks: OutboundExchange['responseHooks']): void {
    const chosen = chooseCluster(deps, cfg, destinations, f, random);
    if ('status' in chosen) return sendLocalReply(chosen);
    const { dest, entry } = chosen;
    const { method, path, headers: out } = upstreamRequest(cfg, route, dest, entry.cluster, req, url, service, undefined);
    const requestHeaders = nextHopHeaders(method, path, out, headers.te);
    const body = new ReplayableBody(stream, MAX_RETRY_BODY);
    const editAnswer = (h: OutgoingHttpHeaders) => {
      editResponseHeaders(h, route, dest, responseHooks);
    };

    for (const cluster of mirrorClusters ?? []) void mirrorStream(deps, cfg, cluster, requestHeaders, body, random);

    const send = async () => {
      const result = await attempts(
        deps,
        entry,
        route,
        dest.cluster,
        hashKey(entry.cluster.lb, req),
        () => body.replayable,
        random,
        (e) => labelEndpoint(cfg, f.labels, entry, e),
        (endpoint, timeoutMs, keep) =>
          // Node copies the headers it is given: one object serves every attempt.
          streamAttempt(stream, body, () => deps.pool.h2Session(entry.cluster, endpoint).request(requestHeaders), timeoutMs, keep, editAnswer),
      );
      f.reqBytes = body.bytes;
      if (!result.relayed && (stream.aborted || stream.destroyed)) return recordOutbound(deps, f, 0, RESPONSE_FLAGS.DOWNSTREAM_CONNECTION_TERMINATION, 0);
      if (result.relayed) {
        if (result.status === 0) return recordOutbound(deps, f, 0, RESPONSE_FLAGS.DOWNSTREAM_CONNECTION_TERMINATION, 0);
        f.labels.grpc_response_status = result.grpcStatus ?? '';
        return recordOutbound(deps, f, result.status, relayedFlag(result), result.bytes, result.endpoint ? { upstream_host: endpointKey(result.endpoint) } : {});
      }
      sendLocalReply(upstreamFailure(result));
    };
    void send();
  }
}

/**
 * Fire and forget: once the caller's body is complete (and was small enough to keep), the same
 * request goes to the mirror's cluster with `-shadow` on its authority, as Istio marks it, and
 * the answer is read and dropped.
 */
async function mirrorStream(deps: OutboundDeps, cfg: RuntimeConfig, clusterName: string, headers: OutgoingHttpHeaders, body: ReplayableBody, random: () => number): Promise<void> {
  const whole = cfg.clusters.has(clusterName) ? await body.whole() : undefined;
  const target = whole && mirrorEndpoint(cfg, clusterName, random);
  if (!whole || !target) return;
  const { entry, endpoint } = target;
  let status = 0;
  try {
    const up = deps.pool.h2Session(entry.cluster, endpoint).request({ ...headers, ':authority': shadowAuthority(String(headers[':authority'] ?? '')) });
    up.setTimeout(10_000, () => up.close());
    up.once('response', (h: IncomingHttpStatusHeader) => (status = Number(h[':status'])));
    up.on('data', () => undefined);
    up.once('close', () => entry.balancer.finished(endpoint, status, Date.now()));
    up.on('error', () => undefined);
    up.end(whole);
  } catch {
    entry.balancer.finished(endpoint, 0, Date.now());
  }
}
