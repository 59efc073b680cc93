// What both outbound HTTP paths (Node's HTTP server, and the HTTP/1.1 relay) share: finding the
// route, building the upstream request, the Istio labels and the end-of-request record, and the
// retry loop over endpoints. Only the way bytes reach the upstream differs between the paths.
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import { httpEntry, upstreamClusterName } from './access-log.js';
import { provenPrincipal, upstreamTransport } from '../core/routing/transport.js';
import { endpointKey } from '../core/routing/balancer.js';
import { httpStatusForGrpc } from '../core/routing/grpc-status.js';
import { pickWeighted, selectRoute, type RequestFacts } from '../core/routing/match.js';
import { regexRewrite } from '../core/routing/regex-rewrite.js';
import { applyHeaderOps, type HeaderMap } from '../core/http1/header-ops.js';
import type { Cluster, CompiledHttpRoute, Endpoint, OutboundService, WeightedCluster } from '../core/snapshot/types.js';
import { forwardableHeaders } from './http-util.js';
import type { IstioLabels } from './metrics.js';
import type { ClusterEntry, RuntimeConfig } from './runtime-config.js';
import type { OutboundExchange } from './pipeline/outbound/route-filters.js';
import type { OutboundDeps } from './outbound.js';
import type { ActiveSpan } from './tracer.js';
import { originalOf, type Address } from './original-destination.js';
import { PEER_HEADER, UNKNOWN_WORKLOAD } from '../core/workload-meta.js';
import { emptyIstioLabels, setDestination, setDestinationService, setSource, statusCodeLabel } from './istio-labels.js';
import type { AttemptOutcome } from './attempt-outcome.js';
import { reply, type LocalReply } from './pipeline/filter.js';
import { noCluster, UPSTREAM_OVERFLOW } from './pipeline/local-replies.js';
import { RESPONSE_FLAGS, type ResponseFlag } from './pipeline/response-flags.js';
import { cookieValue } from '../core/policy/cookies.js';
export type { AttemptOutcome } from './attempt-outcome.js';

/** The parts of a client request routing looks at; Node's IncomingMessage is one. */
export interface RequestView {
  method?: string;
  url?: string;
  headers: IncomingHttpHeaders;
  socket: { remoteAddress?: string; remotePort?: number; localAddress?: string; localPort?: number };
  /** For the access log; absent: HTTP/1.1. */
  protocol?: string;
}

/**
 * What a listener other than the capture listener is for: every connection for one service (an
 * explicit upstream listener, rootless setups), or the virtual hosts of a gateway port.
 */
export type ListenerBinding = { service: string } | { gatewayPort: number };

/**
 * How a request reached the outbound side: through an explicit listener for one service
 * (`fixed`), a gateway listener (`gatewayPort`), or captured, with the address the application
 * dialled when it is known (`original`).
 */
export interface Via {
  fixed?: string;
  gatewayPort?: number;
  original?: Address;
}

export function viaOf(binding: ListenerBinding | undefined, socket: object | undefined): Via {
  if (!binding) return { original: originalOf(socket) };
  return 'service' in binding ? { fixed: binding.service } : { gatewayPort: binding.gatewayPort };
}

/** The authority of a request that names none (HTTP/1.0): an explicit listener's service. */
export function defaultAuthority(binding: ListenerBinding | undefined): string {
  return binding && 'service' in binding ? binding.service : '';
}

/**
 * The mesh service a request is for: the explicit listener's; at a gateway, the VirtualService
 * bound to that port for its host; else the one its authority names; else, for a captured
 * connection dialled to an instance's address (no name, or an unknown one), that instance's
 * service, so that it too goes over mTLS.
 */
export function requestedService(cfg: RuntimeConfig | undefined, authority: string, via: Via): OutboundService | undefined {
  if (!cfg) return undefined;
  if (via.fixed) return cfg.byName.get(via.fixed) ?? cfg.serviceForAuthority(via.fixed);
  if (via.gatewayPort !== undefined) return cfg.gatewayHost(via.gatewayPort, authority);
  return cfg.serviceForAuthority(authority) ?? (via.original && cfg.serviceForEndpoint(via.original.address, via.original.port));
}

/** The route for a request, or why there is none (404 NR, as Envoy answers). */
export function resolveRoute(
  cfg: RuntimeConfig | undefined,
  service: OutboundService | undefined,
  req: RequestView,
  authority: string,
  f?: FinishedRequest,
): { cfg: RuntimeConfig; service: OutboundService; route: CompiledHttpRoute; url: Target } | LocalReply {
  if (!cfg || !service) return reply(404, RESPONSE_FLAGS.NO_ROUTE, `no route: ${cfg ? `no service in the mesh answers to "${authority}"` : 'the sidecar has no configuration yet'}\n`);
  const url = splitTarget(req.url);
  const facts: RequestFacts = {
    method: req.method ?? 'GET',
    path: url.pathname,
    query: url,
    headers: req.headers,
    authority,
    scheme: 'http',
    port: Number(/:(\d+)$/.exec(authority)?.[1] ?? 80),
  };
  const route = selectRoute(service.httpRoutes, facts);
  if (!route) return reply(404, RESPONSE_FLAGS.NO_ROUTE, `no route matches ${req.method} ${url.pathname} for ${service.name}\n`);
  if (f) f.route = route.name;
  return { cfg, service, route, url };
}

/** The labels of an outbound request before its destination is known. */
export function outboundLabels(cfg: RuntimeConfig | undefined, service: OutboundService | undefined): IstioLabels {
  const labels = emptyIstioLabels('source');
  if (cfg) setSource(labels, cfg.me, cfg.snapshot.proxy.identity);
  // A gateway's virtual host (a VirtualService, no clusters of its own) names no service: until a
  // route picks one, the destination is unknown, as Istio's gateways report a 404 NR.
  if (service && service.clusters.length > 0) setDestinationService(labels, service.name, service.external ? undefined : service.namespace);
  return labels;
}

/** Fills in the destination labels once an endpoint is chosen. */
export function labelEndpoint(cfg: RuntimeConfig, labels: IstioLabels, entry: ClusterEntry, endpoint: Endpoint): void {
  // The same decision the connection follows (upstream-pool.ts), so the labels say what was done.
  // connection_security_policy stays "unknown" at the source, as Istio reports it: only the
  // destination, which verified the caller, says mutual_tls.
  const transport = upstreamTransport(entry.cluster, endpoint);
  // A host outside the mesh is no workload Istio would know.
  setDestination(labels, isMeshCluster(entry.cluster) ? cfg.workloadOf(entry.cluster, endpoint) : UNKNOWN_WORKLOAD, provenPrincipal(transport));
}

/** Whether every endpoint of the cluster is a sidecar speaking the mesh's mTLS: only then does the caller's metadata go (a workload without a sidecar would get the header itself). Decided once per cluster, which a snapshot never changes. */
const sidecarClusters = new WeakMap<Cluster, boolean>();
function sidecarsOnly(cluster: Cluster): boolean {
  let yes = sidecarClusters.get(cluster);
  if (yes === undefined) sidecarClusters.set(cluster, (yes = cluster.tls.mode === 'ISTIO_MUTUAL' || (cluster.tls.mode === 'AUTO' && cluster.endpoints.every((e) => e.sidecarPort !== undefined))));
  return yes;
}

/** A cluster of mesh workloads (their sidecars speak the mesh's mTLS), as against a ServiceEntry host or a TLS-originated one. */
export function isMeshCluster(cluster: Cluster): boolean {
  return cluster.tls.mode === 'AUTO' || cluster.tls.mode === 'ISTIO_MUTUAL';
}

export interface FinishedRequest {
  req: RequestView;
  authority: string;
  service: OutboundService | undefined;
  labels: IstioLabels;
  started: number;
  reqBytes: number;
  span: ActiveSpan | undefined;
  /** For the access log: the route taken, the cluster chosen (and the route's destination port). */
  route?: string;
  cluster?: Cluster;
  clusterPort?: number;
}

/** Metrics, mesh telemetry, access log and span for a finished outbound request. */
export function recordOutbound(deps: OutboundDeps, f: FinishedRequest, status: number, flags: ResponseFlag, resBytes: number, extra: Record<string, unknown> = {}): void {
  const { req, labels, authority, service } = f;
  labels.response_code = statusCodeLabel(status);
  labels.response_flags = flags;
  const ms = performance.now() - f.started;
  if (f.span)
    deps.tracer!.end(f.span, status, {
      'http.method': req.method ?? '',
      'http.url': `http://${authority}${req.url ?? ''}`,
      upstream_cluster: labels.destination_service_name,
      response_flags: flags,
      guid: String(req.headers['x-request-id'] ?? ''),
      node_id: deps.config()?.snapshot.proxy.id ?? '',
    });
  deps.metrics.record(labels, ms, f.reqBytes, resBytes);
  const reported = service && reportedDestination(labels, service);
  // The destination proved a mesh identity only over the mesh's mTLS (labelEndpoint).
  if (reported) deps.report?.(reported, status, ms, labels.destination_principal !== 'unknown');
  const log = deps.accessLog;
  if (log?.wants('client')) {
    const entry = httpEntry({
      started: f.started,
      method: req.method,
      path: req.url,
      protocol: req.protocol ?? 'HTTP/1.1',
      headers: req.headers,
      authority,
      status,
      flags,
      extra,
      bytesReceived: f.reqBytes,
      bytesSent: resBytes,
      route: f.route ?? null,
      upstreamCluster: f.cluster ? upstreamClusterName(f.cluster, f.clusterPort, service) : labels.destination_service_name === 'PassthroughCluster' ? 'PassthroughCluster' : null,
      upstreamHost: typeof extra.upstream_host === 'string' ? extra.upstream_host : null,
      downstream: req.socket,
    });
    log.write('client', entry, { headers: req.headers, mtls: labels.destination_principal !== 'unknown', sourcePrincipal: labels.source_principal, grpcStatus: labels.grpc_response_status });
  }
}

/**
 * The service a request went to, for the controller's telemetry, as the labels name it: the chosen
 * cluster's (at a gateway the route's service, not the VirtualService that routed it), else the
 * service asked for (a sidecar's 404 NR); nothing when no service is known (a gateway's 404 NR).
 */
function reportedDestination(labels: IstioLabels, asked: OutboundService): string | undefined {
  if (labels.destination_service_name === 'unknown') return undefined;
  const ns = labels.destination_service_namespace === 'unknown' ? asked.namespace : labels.destination_service_namespace;
  return `${ns}/${labels.destination_service_name}`;
}

/**
 * Method, path and headers sent upstream: the same for every attempt. Mesh workloads are told
 * who calls (Istio's metadata exchange, for their metrics); the application's own copy of that
 * header never goes anywhere.
 */
export function upstreamRequest(
  cfg: RuntimeConfig,
  route: CompiledHttpRoute,
  dest: WeightedCluster,
  cluster: Cluster,
  req: RequestView,
  url: Target,
  service: OutboundService,
  bodyLength: number | undefined,
): { method: string; path: string; headers: OutgoingHttpHeaders } {
  const headers = forwardableHeaders(req.headers);
  if (sidecarsOnly(cluster)) headers[PEER_HEADER] = cfg.peerHeader;
  else delete headers[PEER_HEADER];
  let path = url.pathname + url.search;
  if (route.rewrite?.uri !== undefined) {
    const prefix = route.match.map((m) => (m.uri && 'prefix' in m.uri ? m.uri.prefix : undefined)).find((p) => p !== undefined && url.pathname.startsWith(p));
    path = (prefix !== undefined ? route.rewrite.uri + url.pathname.slice(prefix.length) : route.rewrite.uri) + url.search;
  } else if (route.rewrite?.uriRegexRewrite) {
    path = regexRewrite(url.pathname, route.rewrite.uriRegexRewrite.match, route.rewrite.uriRegexRewrite.rewrite) + url.search;
  }
  headers.host = route.rewrite?.authority ?? req.headers.host ?? service.name;
  applyHeaderOps(headers, route.headers?.request);
  applyHeaderOps(headers, dest.headers?.request);
  if (bodyLength !== undefined) headers['content-length'] = String(bodyLength);
  return { method: req.method ?? 'GET', path, headers };
}

/**
 * The weighted destination of a route and its cluster, admitted by the connection-pool limits;
 * or the local answer: 503 NR (no such subset) or 503 UO (overflow, answered at once and not
 * counted toward outlier ejection).
 */
export function chooseCluster(
  deps: OutboundDeps,
  cfg: RuntimeConfig,
  destinations: WeightedCluster[],
  f: Pick<FinishedRequest, 'labels' | 'cluster' | 'clusterPort'>,
  random: () => number,
): { dest: WeightedCluster; entry: ClusterEntry } | LocalReply {
  const dest = pickWeighted(destinations, random() * 100)!;
  const entry = cfg.clusterFor(dest.cluster, dest.port);
  if (!entry) return noCluster(dest.cluster);
  f.cluster = entry.cluster;
  f.clusterPort = dest.port;
  setDestinationService(f.labels, entry.cluster.service, isMeshCluster(entry.cluster) ? entry.cluster.namespace : undefined);
  if (!entry.balancer.admit(entry.cluster.connectionPool)) {
    deps.metrics.overflows.inc({ cluster: dest.cluster });
    return UPSTREAM_OVERFLOW;
  }
  return { dest, entry };
}

/** The exchange a route's filters see (pipeline/outbound-chain.ts); it shares the request's headers. */
export function outboundExchange(req: RequestView, authority: string, service: OutboundService, route: CompiledHttpRoute, url: Target, random: () => number): OutboundExchange {
  return { method: req.method ?? 'GET', target: req.url ?? '/', headers: req.headers, authority, service, route, pathname: url.pathname, search: url.search, random, responseHooks: [] };
}

/** Whether editResponseHeaders would change nothing: the answer's head can then be passed on without a map. */
export function editsNoResponseHeaders(route: CompiledHttpRoute, dest: WeightedCluster, hooks: readonly ((h: HeaderMap) => void)[]): boolean {
  return !route.headers?.response && !dest.headers?.response && hooks.length === 0;
}

/** The response side of the router, the same for every codec: the route's and the destination's header rules, then the filters' hooks. */
export function editResponseHeaders(out: HeaderMap, route: CompiledHttpRoute, dest: WeightedCluster, hooks: readonly ((h: HeaderMap) => void)[]): void {
  applyHeaderOps(out, route.headers?.response);
  applyHeaderOps(out, dest.headers?.response);
  for (const hook of hooks) hook(out);
}

/**
 * A request no route takes: the host outside the mesh it goes to (ALLOW_ANY, with the labels
 * set for PassthroughCluster), or the local answer: 503 UH for a name that was a mesh service
 * and has lost its last instance (never passed through in plaintext), else `notFound` (404 NR).
 */
export function outsideTheMesh(
  deps: OutboundDeps,
  cfg: RuntimeConfig | undefined,
  service: OutboundService | undefined,
  authority: string,
  via: Via,
  notFound: LocalReply,
  labels: IstioLabels,
): { host: string; port: number } | LocalReply {
  if (!service && cfg?.wasMeshHost(authority)) return reply(503, RESPONSE_FLAGS.NO_HEALTHY_UPSTREAM, `no healthy upstream: "${authority}" has no instances in the mesh right now\n`);
  const target = cfg && !service ? passthroughTarget(deps, authority, via) : undefined;
  if (!target) return notFound;
  setDestinationService(labels, 'PassthroughCluster', undefined);
  return target;
}

/**
 * Where a captured request that names no mesh service goes under ALLOW_ANY: the address the
 * application dialled when it is known (as Envoy's ORIGINAL_DST), else the host and port of its
 * authority (port 80 when it names none). Undefined under REGISTRY_ONLY, for explicit upstream
 * listeners, for a malformed authority, or for one of the sidecar's own ports.
 */
function passthroughTarget(deps: OutboundDeps, authority: string, via: Via): { host: string; port: number } | undefined {
  if (via.fixed) return undefined;
  if (via.original) return passthroughRefused(deps, via.original.port) ? undefined : { host: via.original.address, port: via.original.port };
  const m = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(?::(\d{1,5}))?$/.exec(authority);
  if (!m) return undefined;
  const port = m[2] === undefined ? 80 : Number(m[2]);
  if (port < 1 || port > 65535 || passthroughRefused(deps, port)) return undefined;
  return { host: m[1].replace(/^\[|\]$/g, ''), port };
}

/**
 * Why captured traffic for `port` outside the mesh may not go there: REGISTRY_ONLY, or one of the
 * sidecar's own listeners (no loops). Undefined: it may (ALLOW_ANY).
 */
export function passthroughRefused(deps: OutboundDeps, port: number): string | undefined {
  if (!deps.passthrough) return 'not a mesh service, and the outbound traffic policy is REGISTRY_ONLY';
  return deps.passthrough.ownPorts().includes(port) ? "one of the sidecar's own ports" : undefined;
}

/** What one attempt at an endpoint came to, whichever path made it. */

export interface AttemptResult extends AttemptOutcome {
  flags: ResponseFlag;
  endpoint?: Endpoint;
}

/**
 * Tries endpoints until one answers with something the retry policy accepts, or attempts run
 * out. `send` makes one attempt; `keep(status, grpcStatus)` tells it whether an answer is final.
 * `retriable` says whether the request could be sent again (its body was kept); a function is
 * asked before each retry, for bodies still streaming.
 */
export async function attempts(
  deps: OutboundDeps,
  entry: ClusterEntry,
  route: CompiledHttpRoute,
  clusterName: string,
  hash: string | undefined,
  retriable: boolean | (() => boolean),
  random: () => number,
  onEndpoint: (e: Endpoint) => void,
  send: (endpoint: Endpoint, timeoutMs: number, keep: (status: number, grpcStatus?: string) => boolean) => Promise<AttemptOutcome>,
): Promise<AttemptResult> {
  const retry = route.retries;
  const retryOn = retry?.retryOn ?? [];
  // A body too large to buffer was streamed to the first attempt and cannot be sent again.
  const canRetry = typeof retriable === 'function' ? retriable : () => retriable;
  const maxAttempts = retriable === false ? 1 : 1 + (retry?.attempts ?? 0);
  const deadline = route.timeoutMs ? Date.now() + route.timeoutMs : Infinity;
  const tried = new Set<string>();
  let last: AttemptResult = { relayed: false, status: 0, bytes: 0, flags: RESPONSE_FLAGS.NO_HEALTHY_UPSTREAM, timedOut: false };
  const clusterLabel = { cluster: clusterName };
  for (let i = 0; i < maxAttempts; i++) {
    const endpoint = entry.balancer.pick({ now: Date.now(), random, hashKey: hash }, tried);
    if (!endpoint) return { ...last, flags: RESPONSE_FLAGS.NO_HEALTHY_UPSTREAM };
    if (maxAttempts > 1) tried.add(endpointKey(endpoint));
    const remaining = deadline - Date.now();
    if (remaining <= 0) return { ...last, relayed: false, status: 0, flags: RESPONSE_FLAGS.UPSTREAM_TIMEOUT, timedOut: true };
    const finalAttempt = i === maxAttempts - 1;
    onEndpoint(endpoint);
    entry.balancer.started(endpoint);
    deps.metrics.upstreamActive.inc(clusterLabel);
    const outcome = await send(endpoint, Math.min(retry?.perTryTimeoutMs ?? Infinity, remaining), (status, grpcStatus) => finalAttempt || !canRetry() || !shouldRetry(retryOn, status, grpcStatus));
    deps.metrics.upstreamActive.dec(clusterLabel);
    if (entry.balancer.finished(endpoint, outcome.grpcStatus ? httpStatusForGrpc(outcome.grpcStatus) : outcome.status, Date.now())) deps.metrics.ejections.inc(clusterLabel);
    // The outcome itself becomes the result (no copy: spreading objects of varying shape is slow in V8).
    last = outcome as AttemptResult;
    last.flags = outcome.timedOut ? RESPONSE_FLAGS.UPSTREAM_TIMEOUT : outcome.status === 0 ? RESPONSE_FLAGS.UPSTREAM_CONNECTION_FAILURE : RESPONSE_FLAGS.NONE;
    last.endpoint = endpoint;
    if (outcome.relayed) return last;
    const again = outcome.status === 0 ? retryOn.some((r) => CONNECT_RETRY.has(r)) : shouldRetry(retryOn, outcome.status, outcome.grpcStatus);
    if (!again || finalAttempt || !canRetry()) break;
    await new Promise((r) => setTimeout(r, Math.min(25 * 2 ** i, 250) * (0.5 + random())));
  }
  return last;
}

/** A mirror's cluster and the endpoint its copy goes to, counted as started; undefined when there is none. */
export function mirrorEndpoint(cfg: RuntimeConfig, clusterName: string, random: () => number): { entry: ClusterEntry; endpoint: Endpoint } | undefined {
  const entry = cfg.clusters.get(clusterName);
  const endpoint = entry?.balancer.pick({ now: Date.now(), random });
  if (!entry || !endpoint) return undefined;
  entry.balancer.started(endpoint);
  return { entry, endpoint };
}

/** The authority a mirrored copy carries: the host with `-shadow` after it, as Istio marks it. */
export function shadowAuthority(authority: string): string {
  return `${authority.replace(/:\d+$/, '')}-shadow`;
}

/** Conditions under which a failure to get any answer (connect error, reset, timeout) is retried. */
const CONNECT_RETRY = new Set(['connect-failure', 'reset', '5xx', 'gateway-error', 'refused-stream', 'unavailable']);

/** Istio's gRPC retry conditions, by the grpc-status of a trailers-only answer. */
const GRPC_RETRY: Record<string, string> = { cancelled: '1', 'deadline-exceeded': '4', 'resource-exhausted': '8', internal: '13', unavailable: '14' };

function shouldRetry(on: string[], status: number, grpcStatus?: string): boolean {
  if (grpcStatus !== undefined && on.some((r) => GRPC_RETRY[r] === grpcStatus)) return true;
  if (on.includes('5xx') && status >= 500) return true;
  if (on.includes('gateway-error') && (status === 502 || status === 503 || status === 504)) return true;
  if (on.includes('retriable-4xx') && status === 409) return true;
  return on.includes(String(status));
}

export function hashKey(lb: { type: string; header?: string; cookie?: { name: string }; sourceIp?: boolean; queryParam?: string }, req: RequestView): string | undefined {
  if (lb.type !== 'CONSISTENT_HASH') return undefined;
  if (lb.header) return String(req.headers[lb.header] ?? '');
  // Read as the Cookie header is written; the name is not a pattern (a `.` in it matched any character once).
  if (lb.cookie) return cookieValue(req.headers.cookie, lb.cookie.name);
  if (lb.sourceIp) return req.socket.remoteAddress;
  if (lb.queryParam) return splitTarget(req.url).searchParams.get(lb.queryParam) ?? undefined;
  return undefined;
}

/**
 * Splits a request target into path and query without URL parsing: `new URL('//admin')` would
 * read `admin` as a host and change the path the backend sees.
 */
export function splitTarget(raw: string | undefined): Target {
  const target = raw ?? '/';
  const q = target.indexOf('?');
  return q === -1 ? new Target(target, '') : new Target(target.slice(0, q), target.slice(q));
}

/** A request target's path and query; the query is parsed only when something reads a parameter (most routes never do). */
export class Target {
  private params: URLSearchParams | undefined;
  constructor(
    readonly pathname: string,
    readonly search: string,
  ) {}

  get searchParams(): URLSearchParams {
    return (this.params ??= new URLSearchParams(this.search));
  }

  get(name: string): string | null {
    return this.search === '' ? null : this.searchParams.get(name);
  }
}
