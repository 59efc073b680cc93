// The outbound side: the application's requests (through an explicit local listener per
// upstream, or redirected by iptables with the destination in the Host header) are routed by
// the snapshot, balanced, retried and timed out, and sent over mTLS to the remote sidecar.
import type { Tracer } from './tracer.js';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { TLSSocket } from 'node:tls';
import { endpointKey } from '../core/routing/balancer.js';
import type { CompiledHttpRoute, OutboundService, WeightedCluster } from '../core/snapshot/types.js';
import type { HeaderMap } from '../core/http1/header-ops.js';
import type { ProxyMetrics } from './metrics.js';
import { callUpstream } from './upstream-call.js';
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
  type Target,
} from './outbound-route.js';
import { reply, runFilters, whenDone, type FilterOutcome, type LocalReply } from './pipeline/filter.js';
import { NO_DESTINATION, NO_HEALTHY_UPSTREAM, passthroughFailure, upstreamFailure } from './pipeline/local-replies.js';
import { routeChain } from './pipeline/outbound-chain.js';
import { RESPONSE_FLAGS, type ResponseFlag } from './pipeline/response-flags.js';
import { carryUpgrade, refuseUpgrade, upgradeKind, upgradeRequestHead, withoutUpgrade } from './upgrade.js';
import { forwardableHeaders } from './http-util.js';
import { brokenOffFlag } from './attempt-outcome.js';
import type { AccessLog } from './access-log.js';
import type { RuntimeConfig } from './runtime-config.js';
import type { UpstreamPool } from './upstream-pool.js';

/** Request bodies up to this size are buffered so that they can be retried. */
export const MAX_RETRY_BODY = 1024 * 1024;

export interface OutboundDeps {
  config(): RuntimeConfig | undefined;
  pool: UpstreamPool;
  metrics: ProxyMetrics;
  /** Upgraded (WebSocket) connections in use; the sidecar ends them on close. */
  upgraded: Set<Duplex>;
  /** Mesh-wide telemetry: one call per finished request with its destination `namespace/service`. */
  report?(destination: string, status: number, ms: number, mtls: boolean): void;
  /** The access log (Istio's JSON lines); absent when it is off. */
  accessLog?: AccessLog;
  /** Notices about connections refused or closed (the sidecar's own log). */
  log?(line: Record<string, unknown>): void;
  /** Spans for sampled requests; absent when tracing is off. */
  tracer?: Tracer;
  random?: () => number;
  /**
   * Istio's outboundTrafficPolicy ALLOW_ANY: a captured request whose authority names no mesh
   * service goes to that authority directly (PassthroughCluster). Absent: REGISTRY_ONLY, 404 NR.
   * `ownPorts` are the sidecar's listeners, never a passthrough target (no loops).
   */
  passthrough?: { ownPorts: () => number[] };
}

/** Handles one request; `binding` is set for explicit upstream listeners and gateway listeners. */
export function handleOutbound(deps: OutboundDeps, req: IncomingMessage, res: ServerResponse, binding?: ListenerBinding): void {
  const random = deps.random ?? Math.random;
  const current = deps.config();
  const authority = req.headers.host ?? defaultAuthority(binding);
  const via = viaOf(binding, req.socket);
  const requested = requestedService(current, authority, via);
  const f: FinishedRequest = { req, authority, service: requested, labels: outboundLabels(current, requested), started: performance.now(), reqBytes: 0, span: undefined };
  const finish = (status: number, flags: ResponseFlag, resBytes: number, extra?: Record<string, unknown>) => recordOutbound(deps, f, status, flags, resBytes, extra);
  // Node's path renders every local answer here.
  const sendLocalReply = (r: LocalReply) => {
    if (!res.headersSent) {
      res.writeHead(r.status, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(r.body), 'x-mesh-response-flags': r.flags, ...r.headers });
      res.end(r.body);
    }
    finish(r.status, r.flags, Buffer.byteLength(r.body), r.details);
  };

  const resolved = resolveRoute(current, requested, req, authority, f);
  if ('status' in resolved) {
    const target = outsideTheMesh(deps, current, requested, authority, via, resolved, f.labels);
    if ('status' in target) return sendLocalReply(target);
    // ALLOW_ANY: the request, as it came, to the host it names outside the mesh.
    const hasBody = req.headers['content-length'] !== undefined ? req.headers['content-length'] !== '0' : req.headers['transfer-encoding'] !== undefined;
    void callUpstream(
      deps.pool.passthroughPool(target.host, target.port),
      { method: req.method ?? 'GET', path: req.url ?? '/', headers: forwardableHeaders(req.headers), body: hasBody ? req : null, timeoutMs: Infinity },
      res,
      (_s, h) => forwardableHeaders(h),
    ).then((o) => {
      if (o.relayed && !o.error) return finish(o.status, RESPONSE_FLAGS.NONE, o.bytes, { upstream_host: `${target.host}:${target.port}` });
      if (res.headersSent) {
        res.destroy();
        return finish(o.status, RESPONSE_FLAGS.UPSTREAM_PROTOCOL_ERROR, o.bytes);
      }
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
    if (out === 'close') return void req.socket.destroy();
    if (out) return sendLocalReply(out);
    if (route.action.type !== 'route') return sendLocalReply(NO_DESTINATION);
    routeRequest(
      deps,
      req,
      res,
      f,
      { cfg, service, route, url, destinations: route.action.destinations, mirrorClusters: x.mirrorClusters, responseHooks: x.responseHooks, random },
      sendLocalReply,
      finish,
    );
  };
  whenDone(ran, proceed);
}

interface Routed {
  cfg: RuntimeConfig;
  service: OutboundService;
  route: CompiledHttpRoute;
  url: Target;
  destinations: WeightedCluster[];
  mirrorClusters: string[] | undefined;
  responseHooks: ((h: HeaderMap) => void)[];
  random: () => number;
}

/** The router: cluster, pool limits, body, mirror, retries and timeouts, header rules. */
function routeRequest(
  deps: OutboundDeps,
  req: IncomingMessage,
  res: ServerResponse,
  f: FinishedRequest,
  r: Routed,
  sendLocalReply: (r: LocalReply) => void,
  finish: (status: number, flags: ResponseFlag, resBytes: number, extra?: Record<string, unknown>) => void,
): void {
  const { cfg, service, route, url, random } = r;
  const chosen = chooseCluster(deps, cfg, r.destinations, f, random);
  if ('status' in chosen) return sendLocalReply(chosen);
  const { dest, entry } = chosen;

  void readBody(req).then(async (body) => {
    if (body === ABORTED) return finish(0, RESPONSE_FLAGS.DOWNSTREAM_CONNECTION_TERMINATION, 0); // downstream connection closed mid-request
    f.reqBytes = body?.length ?? Number(req.headers['content-length'] ?? 0);
    for (const cluster of r.mirrorClusters ?? []) mirror(deps, cfg, cluster, req, body, service, random);
    const { method, path, headers } = upstreamRequest(cfg, route, dest, entry.cluster, req, url, service, body?.length);
    const upstreamBody = body === undefined ? req : body.length > 0 ? body : null;
    const result = await attempts(
      deps,
      entry,
      route,
      dest.cluster,
      hashKey(entry.cluster.lb, req),
      body !== undefined,
      random,
      (e) => labelEndpoint(cfg, f.labels, entry, e),
      (endpoint, timeoutMs, keep) =>
        callUpstream(deps.pool.target(entry.cluster, endpoint).pool, { method, path, headers, body: upstreamBody, timeoutMs }, res, (status, h) => {
          if (!keep(status)) return undefined;
          const out = forwardableHeaders(h);
          editResponseHeaders(out, route, dest, r.responseHooks);
          return out;
        }),
    );
    if (result.relayed && !result.error) return finish(result.status, RESPONSE_FLAGS.NONE, result.bytes, { upstream_host: result.endpoint ? endpointKey(result.endpoint) : undefined });
    if (res.headersSent) {
      // The answer broke off after its headers went out: all we can do is close.
      res.destroy();
      return finish(result.status, brokenOffFlag(result), result.bytes);
    }
    sendLocalReply(upstreamFailure(result));
  });
}

/**
 * WebSocket upgrades from the application: routed like a request (route, subset, endpoint,
 * rewrite and header rules), then the request goes to the endpoint, over mTLS to its sidecar;
 * a byte pipe only once the far side answers 101 (upgrade.ts). `Upgrade: h2c` is read as a plain
 * request. `resumeHttp` takes the connection back when the answer is an ordinary one.
 */
export function handleOutboundUpgrade(deps: OutboundDeps, req: IncomingMessage, socket: Duplex, head: Buffer, resumeHttp: (socket: Duplex, unread: Buffer) => void, binding?: ListenerBinding): void {
  const kind = upgradeKind(req);
  if (kind.kind === 'plain') return resumeHttp(socket, withoutUpgrade(req, head));
  const config = deps.config();
  const random = deps.random ?? Math.random;
  const authority = req.headers.host ?? defaultAuthority(binding);
  const requested = requestedService(config, authority, viaOf(binding, req.socket));
  // Recorded like any request (metrics, telemetry, access log, span), when its answer is known.
  const f: FinishedRequest = { req, authority, service: requested, labels: outboundLabels(config, requested), started: performance.now(), reqBytes: 0, span: undefined };
  // Upgrades render every local answer here (and close).
  const sendLocalReply = (r: LocalReply) => {
    refuseUpgrade(socket, r);
    recordOutbound(deps, f, r.status, r.flags, 0, r.details);
  };
  if (kind.kind === 'refuse') return sendLocalReply(reply(403, RESPONSE_FLAGS.NONE, `${kind.reason}\n`));
  const resolved = resolveRoute(config, requested, req, authority, f);
  if ('status' in resolved) return sendLocalReply(resolved);
  const { cfg, service, route, url } = resolved;
  // The same route filters as any request (faults, direct answers, redirects) before the tunnel.
  const x = outboundExchange(req, authority, service, route, url, random);
  const ran = runFilters(routeChain(route, deps.tracer).filters, x);
  const proceed = (out: FilterOutcome) => {
    f.span = x.span;
    if (out === 'close') return void socket.destroy();
    if (out) return sendLocalReply(out);
    if (route.action.type !== 'route') return sendLocalReply(NO_DESTINATION);
    const chosen = chooseCluster(deps, cfg, route.action.destinations, f, random);
    if ('status' in chosen) return sendLocalReply(chosen);
    const { dest, entry } = chosen;
    const endpoint = entry.balancer.pick({ now: Date.now(), random, hashKey: hashKey(entry.cluster.lb, req) });
    if (!endpoint) return sendLocalReply(NO_HEALTHY_UPSTREAM);
    labelEndpoint(cfg, f.labels, entry, endpoint);
    const { method, path, headers } = upstreamRequest(cfg, route, dest, entry.cluster, req, url, service, undefined);
    const upstream = deps.pool.connectRaw(entry.cluster, endpoint);
    entry.balancer.started(endpoint);
    const call = {
      client: socket,
      clientHead: head,
      upstream,
      ready: upstream instanceof TLSSocket ? ('secureConnect' as const) : ('connect' as const),
      head: upgradeRequestHead(method, path, headers, kind.protocol),
      method,
      protocol: kind.protocol,
      resumeHttp,
      open: deps.upgraded,
      editResponse: (h: HeaderMap) => editResponseHeaders(h, route, dest, x.responseHooks),
    };
    // A tunnel counts as a request in progress (least-request balancing) until it closes.
    const tunnelClosed = () => {
      entry.balancer.finished(endpoint, 101, Date.now());
      deps.log?.({ direction: 'outbound', upgrade: kind.protocol, authority, upstream_host: endpointKey(endpoint), closed: true });
    };
    void carryUpgrade(call, tunnelClosed).then((o) => {
      if (o.status !== 101) entry.balancer.finished(endpoint, o.status, Date.now());
      if (o.status !== 0) return recordOutbound(deps, f, o.status, RESPONSE_FLAGS.NONE, 0, { upstream_host: endpointKey(endpoint) });
      sendLocalReply(upstreamFailure({ ...o, flags: RESPONSE_FLAGS.UPSTREAM_CONNECTION_FAILURE }));
    });
  };
  whenDone(ran, proceed);
}

/** Fire and forget: the mirror's answer is read and dropped; Istio marks the authority with -shadow. */
function mirror(deps: OutboundDeps, cfg: RuntimeConfig, clusterName: string, req: IncomingMessage, body: Buffer | undefined, service: OutboundService, random: () => number): void {
  const target = body && mirrorEndpoint(cfg, clusterName, random);
  if (!body || !target) return;
  const { entry, endpoint } = target;
  const headers = forwardableHeaders(req.headers);
  headers.host = shadowAuthority(req.headers.host ?? service.name);
  delete headers.expect;
  deps.pool
    .target(entry.cluster, endpoint)
    .pool.request({
      method: (req.method ?? 'GET') as 'GET',
      path: req.url ?? '/',
      headers: headers as Record<string, string>,
      body: body.length > 0 ? body : null,
      headersTimeout: 10_000,
      bodyTimeout: 10_000,
    })
    .then(
      (r) => {
        entry.balancer.finished(endpoint, r.statusCode, Date.now());
        return r.body.dump();
      },
      () => entry.balancer.finished(endpoint, 0, Date.now()),
    )
    .catch(() => undefined);
}

/** The client went away before its request body was complete: nothing may be forwarded. */
const ABORTED = Symbol('aborted');

/** Buffers a small request body so it can be retried; undefined for bodies streamed once. */
function readBody(req: IncomingMessage): Promise<Buffer | undefined | typeof ABORTED> {
  const length = Number(req.headers['content-length'] ?? NaN);
  const chunked = req.headers['transfer-encoding'] !== undefined;
  if (!chunked && (!Number.isFinite(length) || length === 0)) return Promise.resolve(Buffer.alloc(0));
  if (Number.isFinite(length) && length > MAX_RETRY_BODY) return Promise.resolve(undefined);
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks, size)));
    req.on('error', () => resolve(ABORTED));
    req.on('close', () => {
      if (!req.complete) resolve(ABORTED);
    });
  });
}
