// The decisions every inbound request gets, whichever path carries it (Node's HTTP server, the
// HTTP/1.1 relay, HTTP/2 streams, upgrades): the caller's identity, mTLS mode, path
// normalisation, JWT, authorization, the local rate limit, and the record of the request
// (metrics, access log, span).
import type { OutgoingHttpHeaders } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { authorize } from '../core/policy/authz.js';
import { authenticateJwt } from '../core/policy/jwt.js';
import type { CompiledJwtRule } from '../core/snapshot/types.js';
import { normalisePath } from '../core/policy/paths.js';
import { forwardableHeaders } from './http-util.js';
import type { JwksCache } from './jwks-cache.js';
import type { IstioLabels, ProxyMetrics } from './metrics.js';
import { splitTarget, type RequestView } from './outbound-route.js';
import type { RuntimeConfig } from './runtime-config.js';
import type { ActiveSpan, Tracer } from './tracer.js';

export interface InboundPolicyDeps {
  config(): RuntimeConfig | undefined;
  jwks: JwksCache;
  metrics: ProxyMetrics;
  log?(line: Record<string, unknown>): void;
  tracer?: Tracer;
  appPort: number;
}

export type Verdict =
  | { kind: 'forward'; forwardPath: string; headers: OutgoingHttpHeaders }
  | { kind: 'refuse'; status: number; flags: string; body: string; extra?: Record<string, unknown> }
  | { kind: 'close' };

/** The peer's SPIFFE ID, read once per connection: getPeerCertificate() is costly per request. */
const peers = new WeakMap<TLSSocket, string | undefined>();
export function peerIdentity(socket: TLSSocket): string | undefined {
  if (!peers.has(socket)) peers.set(socket, (socket.getPeerCertificate().subjectaltname ?? '').split(', ').find((s) => s.startsWith('URI:'))?.slice(4));
  return peers.get(socket);
}

/** The labels of an inbound request: the caller from its certificate, the destination is this proxy. */
export function inboundLabels(cfg: RuntimeConfig | undefined, peer: string | undefined): IstioLabels {
  const me = cfg?.snapshot.proxy;
  return {
    reporter: 'destination',
    source_workload: /\/sa\/([^/]+)$/.exec(peer ?? '')?.[1] ?? 'unknown',
    source_principal: peer ?? 'unknown',
    destination_service_name: me?.service ?? 'unknown',
    destination_workload: me?.service ?? 'unknown',
    destination_version: me?.labels.version ?? 'unknown',
    destination_principal: me?.identity ?? 'unknown',
    request_protocol: 'http',
    response_code: '0',
    grpc_response_status: '',
    response_flags: '-',
    connection_security_policy: peer ? 'mutual_tls' : 'none',
  };
}

/** Every header the sidecar sets for the application: XFCC and each JWT rule's payload header. */
const identityHeaderCache = new WeakMap<CompiledJwtRule[], string[]>();
export function identityHeaders(rules: CompiledJwtRule[]): string[] {
  let names = identityHeaderCache.get(rules);
  if (!names) {
    names = [...new Set(['x-forwarded-client-cert', ...rules.flatMap((r) => (r.outputPayloadToHeader ? [r.outputPayloadToHeader.toLowerCase()] : []))])];
    identityHeaderCache.set(rules, names);
  }
  return names;
}

export class InboundPolicy {
  constructor(private readonly deps: InboundPolicyDeps) {}

  /**
   * The inbound decisions every request gets, upgraded or not: mTLS mode, path normalisation,
   * JWT, authorization. Returns the path and headers to forward, or how to refuse.
   */
  admit(req: RequestView, peer: string | undefined): Verdict {
    const cfg = this.deps.config();
    if (!cfg) return { kind: 'refuse', status: 503, flags: 'NC', body: 'the sidecar has no configuration yet\n' };
    if (!peer && cfg.snapshot.inbound.ports[0]?.mtlsMode === 'STRICT') {
      // A plaintext connection opened while the mode was PERMISSIVE: STRICT now, so it ends here.
      this.deps.log?.({ direction: 'inbound', refused: 'plaintext request under STRICT mTLS', peer: req.socket.remoteAddress });
      return { kind: 'close' };
    }
    const rawTarget = req.url ?? '/';
    const q = rawTarget.indexOf('?');
    const normal = normalisePath(q === -1 ? rawTarget : rawTarget.slice(0, q));
    if (!normal.path) return { kind: 'refuse', status: 400, flags: 'DPE', body: `bad request path: ${normal.reason}\n` };
    const jwt = authenticateJwt(cfg.snapshot.inbound.jwtRules, req.headers, new URLSearchParams(q === -1 ? '' : rawTarget.slice(q + 1)), this.deps.jwks.keys, Date.now() / 1000);
    if (jwt.error) return { kind: 'refuse', status: 401, flags: '-', body: `${jwt.error}\n` };
    const decision = authorize(cfg.snapshot.inbound.authorization, {
      peerIdentity: peer,
      requestPrincipal: jwt.principal,
      claims: jwt.claims,
      sourceIp: req.socket.remoteAddress ?? '',
      host: req.headers.host ?? '',
      port: this.deps.appPort,
      method: req.method ?? 'GET',
      path: normal.path,
      headers: req.headers,
    });
    if (!decision.allowed) return { kind: 'refuse', status: 403, flags: 'RBAC', body: 'RBAC: access denied\n', extra: { policy: decision.policy } };
    const headers = forwardableHeaders(req.headers);
    // The headers through which the sidecar tells the application something it checked are the
    // sidecar's alone: a caller's own copies go, whether or not the sidecar then sets them.
    for (const name of identityHeaders(cfg.snapshot.inbound.jwtRules)) delete headers[name];
    if (jwt.rule && jwt.location?.header && !jwt.rule.forwardOriginalToken) delete headers[jwt.location.header];
    if (jwt.rule?.outputPayloadToHeader && jwt.claims) headers[jwt.rule.outputPayloadToHeader.toLowerCase()] = Buffer.from(JSON.stringify(jwt.claims)).toString('base64url');
    // Tell the application who called, as Envoy's XFCC does.
    if (peer) headers['x-forwarded-client-cert'] = `By=${cfg.snapshot.proxy.identity};URI=${peer}`;
    return { kind: 'forward', forwardPath: normal.path + (q === -1 ? '' : rawTarget.slice(q)), headers };
  }

  /**
   * The LocalRateLimit decision for a request that passed authorization, on the normalised path
   * (as authorization decides), so that `//x` or `/%78` cannot slip past a limit on `/x`.
   */
  rateLimited(req: RequestView, normalisedTarget: string): string | undefined {
    const cfg = this.deps.config();
    if (!cfg?.snapshot.inbound.rateLimit) return undefined;
    const url = splitTarget(normalisedTarget);
    const authority = String(req.headers.host ?? '');
    return cfg.rateLimited({ method: req.method ?? 'GET', path: url.pathname, query: url.searchParams, headers: req.headers, authority, scheme: 'http', port: this.deps.appPort }, performance.now());
  }

  record(req: RequestView, labels: IstioLabels, started: number, span: ActiveSpan | undefined, peer: string | undefined, status: number, flags: string, resBytes: number, extra: Record<string, unknown> = {}): void {
    labels.response_code = String(status);
    labels.response_flags = flags;
    const ms = performance.now() - started;
    if (span) this.deps.tracer!.end(span, status, { 'http.method': req.method ?? '', 'http.url': `http://${req.headers.host ?? ''}${req.url ?? ''}`, peer_principal: peer ?? '', response_flags: flags, guid: String(req.headers['x-request-id'] ?? ''), node_id: this.deps.config()?.snapshot.proxy.id ?? '' });
    this.deps.metrics.record(labels, ms, Number(req.headers['content-length'] ?? 0), resBytes);
    this.deps.log?.({ direction: 'inbound', method: req.method, path: req.url, status, flags, duration_ms: Math.round(ms * 1000) / 1000, source_principal: peer, request_id: req.headers['x-request-id'], ...extra });
  }
}
