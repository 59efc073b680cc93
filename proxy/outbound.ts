// The outbound side: the application's requests (through an explicit local listener per
// upstream, or redirected by iptables with the destination in the Host header) are routed by
// the snapshot, balanced, retried and timed out, and sent over mTLS to the remote sidecar.
import { randomUUID } from 'node:crypto';
import type { ActiveSpan, Tracer } from './tracer.js';
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { TLSSocket } from 'node:tls';
import { endpointKey } from '../core/routing/balancer.js';
import { pickWeighted, selectRoute, type RequestFacts } from '../core/routing/match.js';
import type { CompiledHttpRoute, Endpoint, HeaderOps, OutboundService, WeightedCluster } from '../core/snapshot/types.js';
import type { IstioLabels, ProxyMetrics } from './metrics.js';
import { callUpstream, type UpstreamRequest } from './upstream-call.js';
import { refuseUpgrade, requestHead, splice } from './upgrade.js';
import { forwardableHeaders } from './http-util.js';
import type { RuntimeConfig } from './runtime-config.js';
import type { UpstreamPool } from './upstream-pool.js';

/** Request bodies up to this size are buffered so that they can be retried. */
const MAX_RETRY_BODY = 1024 * 1024;

export interface OutboundDeps {
  config(): RuntimeConfig | undefined;
  pool: UpstreamPool;
  metrics: ProxyMetrics;
  /** Upgraded (WebSocket) connections in use; the sidecar ends them on close. */
  upgraded: Set<Duplex>;
  /** Mesh-wide telemetry: one call per finished request with its destination `namespace/service`. */
  report?(destination: string, status: number, ms: number): void;
  /** The access log; absent when its level is off, so that no log line is even built. */
  log?(line: Record<string, unknown>): void;
  /** Spans for sampled requests; absent when tracing is off. */
  tracer?: Tracer;
  random?: () => number;
}


/** Handles one request; `fixedService` is set for explicit upstream listeners. */
export function handleOutbound(deps: OutboundDeps, req: IncomingMessage, res: ServerResponse, fixedService?: string): void {
  const started = performance.now();
  const random = deps.random ?? Math.random;
  const current = deps.config();
  const me = current?.snapshot.proxy;
  const authority = req.headers.host ?? fixedService ?? '';
  const requested = current && (fixedService ? current.byName.get(fixedService) : current.serviceForAuthority(authority));
  const labels: IstioLabels = {
    reporter: 'source',
    source_workload: me?.service ?? 'unknown',
    source_principal: me?.identity ?? 'unknown',
    destination_service_name: requested?.name ?? 'unknown',
    destination_workload: 'unknown',
    destination_version: 'unknown',
    destination_principal: 'unknown',
    request_protocol: 'http',
    response_code: '0',
    grpc_response_status: '',
    response_flags: '-',
    connection_security_policy: 'unknown',
  };
  let reqBytes = 0;
  let span: ActiveSpan | undefined;
  const finish = (status: number, flags: string, resBytes: number, extra: Record<string, unknown> = {}) => {
    labels.response_code = String(status);
    labels.response_flags = flags;
    const ms = performance.now() - started;
    if (span) deps.tracer!.end(span, status, { 'http.method': req.method ?? '', 'http.url': `http://${authority}${req.url ?? ''}`, upstream_cluster: labels.destination_service_name, response_flags: flags, guid: String(req.headers['x-request-id'] ?? ''), node_id: me?.id ?? '' });
    deps.metrics.record(labels, ms, reqBytes, resBytes);
    if (requested) deps.report?.(`${requested.namespace}/${requested.name}`, status, ms);
    deps.log?.({ direction: 'outbound', method: req.method, path: req.url, authority, status, flags, duration_ms: Math.round(ms * 1000) / 1000, upstream_service: labels.destination_service_name, request_id: req.headers['x-request-id'], ...extra });
  };
  const local = (status: number, flags: string, body: string) => {
    if (!res.headersSent) {
      res.writeHead(status, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body), 'x-mesh-response-flags': flags });
      res.end(body);
    }
    finish(status, flags, Buffer.byteLength(body));
  };

  const resolved = resolveRoute(current, requested, req, authority);
  if ('status' in resolved) return void local(resolved.status, 'NR', resolved.body);
  const { cfg, service, route, url } = resolved;
  if (!req.headers['x-request-id']) req.headers['x-request-id'] = randomUUID();
  // The client span; its context reaches the upstream in `traceparent` (set on req.headers,
  // which the upstream request is built from).
  span = deps.tracer?.begin('client', `${authority}/*`, req.headers, req.headers);

  const action = route.action;
  if (action.type === 'direct') return void local(action.status, 'DR', action.body ?? '');
  if (action.type === 'redirect') {
    const location = `${action.scheme ?? 'http'}://${action.authority ?? authority.replace(/:\d+$/, '')}${action.port ? `:${action.port}` : ''}${action.uri ?? url.pathname + url.search}`;
    res.writeHead(action.code, { location, 'content-length': 0 });
    res.end();
    return void finish(action.code, 'DR', 0);
  }

  const abort = route.fault?.abort;
  if (abort && random() * 100 < abort.percent) return void local(abort.status, 'FI', 'fault filter abort\n');
  const delay = route.fault?.delay && random() * 100 < route.fault.delay.percent ? route.fault.delay.delayMs : 0;

  const dest = pickWeighted(action.destinations, random() * 100)!;
  const entry = cfg.clusters.get(dest.cluster);
  if (!entry) return void local(503, 'NR', `no cluster ${dest.cluster} (is the subset defined in a DestinationRule?)\n`);
  labels.destination_service_name = entry.cluster.service;
  if (!entry.balancer.admit(entry.cluster.connectionPool)) {
    // Overflow answers at once and does not count toward outlier ejection.
    deps.metrics.overflows.inc({ cluster: dest.cluster });
    return void local(503, 'UO', 'upstream connect error or disconnect/reset before headers. reset reason: overflow\n');
  }

  void readBody(req).then(async (body) => {
    if (body === ABORTED) return finish(0, 'DC', 0); // downstream connection closed mid-request
    reqBytes = body?.length ?? Number(req.headers['content-length'] ?? 0);
    if (delay > 0) await new Promise((r) => setTimeout(r, delay));
    if (route.mirror && random() * 100 < route.mirror.percent) mirror(deps, cfg, route.mirror.cluster, req, body, service, random);
    // The request sent upstream is the same for every attempt; only the per-try deadline differs.
    const upstream = upstreamRequest(route, dest, req, url, body, service);
    const result = await attempts(deps, cfg, route, dest, req, res, upstream, body === undefined, random, (endpoint) => {
      labels.destination_workload = entry.cluster.service;
      labels.destination_version = endpoint.labels.version ?? 'unknown';
      const mtls = endpoint.sidecarPort !== undefined && entry.cluster.tls.mode !== 'DISABLE';
      labels.connection_security_policy = mtls ? 'mutual_tls' : 'none';
      labels.destination_principal = mtls ? (entry.cluster.tls.subjectAltNames[0] ?? 'unknown') : 'unknown';
    });
    if (result.relayed) return finish(result.status, '-', result.bytes, { upstream_host: result.endpoint ? endpointKey(result.endpoint) : undefined });
    if (res.headersSent) {
      // The answer broke off after its headers went out: all we can do is close.
      res.destroy();
      return finish(result.status, 'UPE', result.bytes);
    }
    local(result.timedOut ? 504 : 503, result.flags, `upstream ${result.timedOut ? 'request timeout' : `connect error or disconnect/reset before headers: ${result.error?.message ?? 'no healthy upstream'}`}\n`);
  });
}

/** The route for a request, or why there is none (404 NR, as Envoy answers). */
function resolveRoute(cfg: RuntimeConfig | undefined, service: OutboundService | undefined, req: IncomingMessage, authority: string): { cfg: RuntimeConfig; service: OutboundService; route: CompiledHttpRoute; url: ReturnType<typeof splitTarget> } | { status: number; body: string } {
  if (!cfg || !service) return { status: 404, body: `no route: ${cfg ? `no service in the mesh answers to "${authority}"` : 'the sidecar has no configuration yet'}\n` };
  const url = splitTarget(req.url);
  const facts: RequestFacts = { method: req.method ?? 'GET', path: url.pathname, query: url.searchParams, headers: req.headers, authority, scheme: 'http', port: Number(/:(\d+)$/.exec(authority)?.[1] ?? 80) };
  const route = selectRoute(service.httpRoutes, facts);
  if (!route) return { status: 404, body: `no route matches ${req.method} ${url.pathname} for ${service.name}\n` };
  return { cfg, service, route, url };
}

/**
 * WebSocket and other upgrades from the application: routed like a request (route, subset,
 * endpoint), then the connection becomes a byte pipe to the endpoint, over mTLS to its sidecar.
 */
export function handleOutboundUpgrade(deps: OutboundDeps, req: IncomingMessage, socket: Duplex, head: Buffer, fixedService?: string): void {
  const config = deps.config();
  const random = deps.random ?? Math.random;
  const authority = req.headers.host ?? fixedService ?? '';
  const resolved = resolveRoute(config, config && (fixedService ? config.byName.get(fixedService) : config.serviceForAuthority(authority)), req, authority);
  if ('status' in resolved) return refuseUpgrade(socket, resolved.status, resolved.body.trim(), 'NR');
  const { cfg, service, route, url } = resolved;
  if (route.action.type !== 'route') return refuseUpgrade(socket, 404, 'the route answers directly; nothing to upgrade to', 'NR');
  const dest = pickWeighted(route.action.destinations, random() * 100)!;
  const entry = cfg.clusters.get(dest.cluster);
  const endpoint = entry?.balancer.pick({ now: Date.now(), random, hashKey: hashKey(entry.cluster.lb, req) });
  if (!entry || !endpoint) return refuseUpgrade(socket, 503, 'no healthy upstream', 'UH');
  let path = url.pathname + url.search;
  if (route.rewrite?.uri !== undefined) path = route.rewrite.uri + url.search;
  const upstream = deps.pool.connectRaw(entry.cluster, endpoint);
  entry.balancer.started(endpoint);
  let ended = false;
  const end = (status: number) => {
    if (ended) return;
    ended = true;
    entry.balancer.finished(endpoint, status, Date.now());
  };
  upstream.once(upstream instanceof TLSSocket ? 'secureConnect' : 'connect', () => {
    upstream.write(requestHead(req, path, route.rewrite?.authority ?? req.headers.host ?? service.name));
    if (head.length > 0) upstream.write(head);
    splice(socket, upstream, deps.upgraded, () => {
      end(101);
      deps.log?.({ direction: 'outbound', upgrade: req.headers.upgrade, authority, upstream_host: endpointKey(endpoint), closed: true });
    });
  });
  upstream.once('error', (err) => {
    end(0);
    refuseUpgrade(socket, 503, `upstream connect error: ${err.message}`, 'UF');
  });
}

interface AttemptResult {
  relayed: boolean;
  status: number;
  bytes: number;
  flags: string;
  timedOut: boolean;
  error?: Error;
  endpoint?: Endpoint;
}

/** Tries endpoints until one answers with something the retry policy accepts, or attempts run out. */
async function attempts(
  deps: OutboundDeps,
  cfg: RuntimeConfig,
  route: CompiledHttpRoute,
  dest: WeightedCluster,
  req: IncomingMessage,
  res: ServerResponse,
  upstream: Omit<UpstreamRequest, 'timeoutMs'>,
  streamed: boolean,
  random: () => number,
  onEndpoint: (e: Endpoint) => void,
): Promise<AttemptResult> {
  const entry = cfg.clusters.get(dest.cluster)!;
  const retry = route.retries;
  const retryOn = retry?.retryOn ?? [];
  // A body too large to buffer was streamed to the first attempt and cannot be sent again.
  const maxAttempts = streamed ? 1 : 1 + (retry?.attempts ?? 0);
  const deadline = route.timeoutMs ? Date.now() + route.timeoutMs : Infinity;
  const tried = new Set<string>();
  let last: AttemptResult = { relayed: false, status: 0, bytes: 0, flags: 'UH', timedOut: false };
  for (let i = 0; i < maxAttempts; i++) {
    const endpoint = entry.balancer.pick({ now: Date.now(), random, hashKey: hashKey(entry.cluster.lb, req) }, tried);
    if (!endpoint) return { ...last, flags: 'UH' };
    tried.add(endpointKey(endpoint));
    const remaining = deadline - Date.now();
    if (remaining <= 0) return { ...last, relayed: false, status: 0, flags: 'UT', timedOut: true };
    const finalAttempt = i === maxAttempts - 1;
    onEndpoint(endpoint);
    entry.balancer.started(endpoint);
    deps.metrics.upstreamActive.inc({ cluster: dest.cluster });
    const outcome = await callUpstream(deps.pool.target(entry.cluster, endpoint).pool, { ...upstream, timeoutMs: Math.min(retry?.perTryTimeoutMs ?? Infinity, remaining) }, res, (status, headers) => {
      if (!finalAttempt && shouldRetry(retryOn, status)) return undefined;
      const out = forwardableHeaders(headers);
      applyHeaderOps(out, route.headers?.response);
      applyHeaderOps(out, dest.headers?.response);
      return out;
    });
    deps.metrics.upstreamActive.dec({ cluster: dest.cluster });
    if (entry.balancer.finished(endpoint, outcome.status, Date.now())) deps.metrics.ejections.inc({ cluster: dest.cluster });
    last = { relayed: outcome.relayed, status: outcome.status, bytes: outcome.bytes, flags: outcome.timedOut ? 'UT' : outcome.status === 0 ? 'UF' : '-', timedOut: outcome.timedOut, error: outcome.error, endpoint };
    if (outcome.relayed || res.headersSent) return last;
    const retriable = outcome.status === 0 ? retryOn.some((r) => CONNECT_RETRY.has(r)) : shouldRetry(retryOn, outcome.status);
    if (!retriable || finalAttempt) break;
    await new Promise((r) => setTimeout(r, Math.min(25 * 2 ** i, 250) * (0.5 + random())));
  }
  return last;
}

/** Conditions under which a failure to get any answer (connect error, reset, timeout) is retried. */
const CONNECT_RETRY = new Set(['connect-failure', 'reset', '5xx', 'gateway-error', 'refused-stream', 'unavailable']);

function shouldRetry(on: string[], status: number): boolean {
  if (on.includes('5xx') && status >= 500) return true;
  if (on.includes('gateway-error') && (status === 502 || status === 503 || status === 504)) return true;
  if (on.includes('retriable-4xx') && status === 409) return true;
  return on.includes(String(status));
}

function upstreamRequest(route: CompiledHttpRoute, dest: WeightedCluster, req: IncomingMessage, url: ReturnType<typeof splitTarget>, body: Buffer | undefined, service: OutboundService): Omit<UpstreamRequest, 'timeoutMs'> {
  const headers = forwardableHeaders(req.headers);
  let path = url.pathname + url.search;
  if (route.rewrite?.uri !== undefined) {
    const prefix = route.match.map((m) => (m.uri && 'prefix' in m.uri ? m.uri.prefix : undefined)).find((p) => p !== undefined && url.pathname.startsWith(p));
    path = (prefix !== undefined ? route.rewrite.uri + url.pathname.slice(prefix.length) : route.rewrite.uri) + url.search;
  }
  headers.host = route.rewrite?.authority ?? req.headers.host ?? service.name;
  applyHeaderOps(headers, route.headers?.request);
  applyHeaderOps(headers, dest.headers?.request);
  if (body !== undefined) headers['content-length'] = String(body.length);
  return { method: req.method ?? 'GET', path, headers, body: body === undefined ? req : body.length > 0 ? body : null };
}

/** Fire and forget: the mirror's answer is read and dropped; Istio marks the authority with -shadow. */
function mirror(deps: OutboundDeps, cfg: RuntimeConfig, clusterName: string, req: IncomingMessage, body: Buffer | undefined, service: OutboundService, random: () => number): void {
  const entry = cfg.clusters.get(clusterName);
  if (!entry || body === undefined) return;
  const endpoint = entry.balancer.pick({ now: Date.now(), random });
  if (!endpoint) return;
  const headers = forwardableHeaders(req.headers);
  headers.host = `${(req.headers.host ?? service.name).replace(/:\d+$/, '')}-shadow`;
  delete headers.expect;
  entry.balancer.started(endpoint);
  deps.pool
    .target(entry.cluster, endpoint)
    .pool.request({ method: (req.method ?? 'GET') as 'GET', path: req.url ?? '/', headers: headers as Record<string, string>, body: body.length > 0 ? body : null, headersTimeout: 10_000, bodyTimeout: 10_000 })
    .then(
      (r) => {
        entry.balancer.finished(endpoint, r.statusCode, Date.now());
        return r.body.dump();
      },
      () => entry.balancer.finished(endpoint, 0, Date.now()),
    )
    .catch(() => undefined);
}

function hashKey(lb: { type: string; header?: string; cookie?: { name: string }; sourceIp?: boolean; queryParam?: string }, req: IncomingMessage): string | undefined {
  if (lb.type !== 'CONSISTENT_HASH') return undefined;
  if (lb.header) return String(req.headers[lb.header] ?? '');
  if (lb.cookie) return new RegExp(`(?:^|;\\s*)${lb.cookie.name}=([^;]*)`).exec(req.headers.cookie ?? '')?.[1];
  if (lb.sourceIp) return req.socket.remoteAddress;
  if (lb.queryParam) return splitTarget(req.url).searchParams.get(lb.queryParam) ?? undefined;
  return undefined;
}

/**
 * Splits a request target into path and query without URL parsing: `new URL('//admin')` would
 * read `admin` as a host and change the path the backend sees.
 */
function splitTarget(raw: string | undefined): { pathname: string; search: string; searchParams: URLSearchParams } {
  const target = raw ?? '/';
  const q = target.indexOf('?');
  const pathname = q === -1 ? target : target.slice(0, q);
  const search = q === -1 ? '' : target.slice(q);
  return { pathname, search, searchParams: new URLSearchParams(search) };
}

function applyHeaderOps(headers: OutgoingHttpHeaders, ops: HeaderOps | undefined): void {
  if (!ops) return;
  for (const [k, v] of Object.entries(ops.set ?? {})) headers[k] = v;
  for (const [k, v] of Object.entries(ops.add ?? {})) {
    const cur = headers[k];
    headers[k] = cur === undefined ? v : Array.isArray(cur) ? [...cur, v] : [String(cur), v];
  }
  for (const k of ops.remove ?? []) delete headers[k];
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
