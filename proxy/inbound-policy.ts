// What every inbound request gets, whichever codec carries it (Node's HTTP server, the HTTP/1.1
// relay, HTTP/2 streams, upgrades): the inbound filter chain (pipeline/inbound-chain.ts: mTLS
// mode, path normalisation, identity headers, JWT, authorization, rate limit, client-certificate
// header), and the record of the request (metrics, access log, span).
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import { decodePeer, PEER_HEADER, UNKNOWN_WORKLOAD, type WorkloadMeta } from '../core/workload-meta.js';
import { emptyIstioLabels, setDestination, setDestinationService, setSource, statusCodeLabel } from './istio-labels.js';
import type { TLSSocket } from 'node:tls';
import { peerUris } from '../common/peer-uris.js';
import { runFilters, type Exchange, type FilterOutcome, type LocalReply, type RequestFilter } from './pipeline/filter.js';
import { NO_CONFIGURATION } from './pipeline/local-replies.js';
import { buildInboundChain } from './pipeline/inbound-chain.js';
import type { ExtAuthzCall } from './pipeline/inbound/ext-authz.js';
import type { ShadowDecision } from '../core/policy/authz.js';
import type { ResponseFlag } from './pipeline/response-flags.js';
import { forwardableHeaders } from './http-util.js';
import type { JwksCache } from './jwks-cache.js';
import type { IstioLabels, ProxyMetrics } from './metrics.js';
import type { RequestView } from './outbound-route.js';
import type { RuntimeConfig } from './runtime-config.js';
import type { ActiveSpan, Tracer } from './tracer.js';
import { httpEntry, type AccessLog } from './access-log.js';
import { envoyClusterName, headerText } from '../core/access-log/entry.js';

export interface InboundPolicyDeps {
  config(): RuntimeConfig | undefined;
  jwks: JwksCache;
  metrics: ProxyMetrics;
  /** Notices of the filters (refusals); the access log is `accessLog`. */
  log?(line: Record<string, unknown>): void;
  accessLog?: AccessLog;
  tracer?: Tracer;
  appHost: string;
  appPort: number;
  /** Sends AuthorizationPolicy CUSTOM checks to their provider. */
  extAuthz?: ExtAuthzCall;
  /** Where dry-run decisions are logged (the sidecar's log at info). */
  notice?(line: Record<string, unknown>, message: string): void;
}

export type Verdict = { kind: 'forward'; forwardPath: string; headers: OutgoingHttpHeaders } | { kind: 'refuse'; reply: LocalReply } | { kind: 'close' };

/** The peer's SPIFFE ID: its certificate's first URI name. */
export function peerIdentity(socket: TLSSocket): string | undefined {
  return peerUris(socket)[0];
}

/**
 * The labels of an inbound request: the destination is this proxy; the caller is who its
 * sidecar says it is (Istio's metadata exchange), believed only over mutual TLS and only for the
 * namespace its certificate proves; else what the certificate alone says.
 */
export function inboundLabels(cfg: RuntimeConfig | undefined, peer: string | undefined, headers: IncomingHttpHeaders): IstioLabels {
  const labels = emptyIstioLabels('destination');
  if (cfg) {
    const me = cfg.snapshot.proxy;
    setDestination(labels, cfg.me, me.identity);
    setDestinationService(labels, me.service, me.namespace);
  }
  setSource(labels, peerWorkload(peer, headers[PEER_HEADER]), peer ?? 'unknown');
  labels.connection_security_policy = peer ? 'mutual_tls' : 'none';
  return labels;
}

/**
 * The caller's workload: what its sidecar said (over mTLS, in the namespace the certificate
 * proves); else, as for TCP, which carries no metadata exchange, what the certificate alone says:
 * the namespace, and the service account standing for workload and app.
 */
export function peerWorkload(peer: string | undefined, said: string | string[] | undefined): WorkloadMeta {
  if (!peer) return UNKNOWN_WORKLOAD;
  // Asked for every inbound request; a proxy has few callers, so what they said is kept (bounded),
  // by identity and then by what was said: not by one key joined from both, a new string of a
  // few hundred characters to copy and hash for every request.
  const text = typeof said === 'string' ? said : '';
  let meta = callers.get(peer)?.get(text);
  if (!meta) {
    // At most 1,024 answers kept in all, however many callers or headers (each up to a head's size).
    if (callersKept >= 1024) {
      callers.clear();
      callersKept = 0;
    }
    let byPeer = callers.get(peer);
    if (!byPeer) callers.set(peer, (byPeer = new Map()));
    byPeer.set(text, (meta = readPeerWorkload(peer, typeof said === 'string' ? said : undefined)));
    callersKept++;
  }
  return meta;
}

const callers = new Map<string, Map<string, WorkloadMeta>>();
let callersKept = 0;

function readPeerWorkload(peer: string, said: string | undefined): WorkloadMeta {
  const m = /\/ns\/([^/]+)\/sa\/([^/]+)$/.exec(peer);
  const namespace = m?.[1] ?? 'unknown';
  const meta = decodePeer(said);
  if (meta && meta.namespace === namespace) return meta;
  const account = m?.[2] ?? 'unknown';
  return { ...UNKNOWN_WORKLOAD, namespace, workload: account, app: account, canonicalService: account };
}

export class InboundPolicy {
  private readonly chains = new WeakMap<RuntimeConfig, RequestFilter[]>();

  constructor(private readonly deps: InboundPolicyDeps) {}

  /**
   * The inbound chain (pipeline/inbound-chain.ts) on one request, whichever codec carries it:
   * the path and headers to forward, or how to refuse. Synchronous unless a filter needs I/O.
   */
  admit(req: RequestView, peer: string | undefined): Verdict | Promise<Verdict> {
    const cfg = this.deps.config();
    if (!cfg) return { kind: 'refuse', reply: NO_CONFIGURATION };
    const target = req.url ?? '/';
    const x: Exchange = {
      method: req.method ?? 'GET',
      target,
      headers: req.headers,
      sourceIp: req.socket.remoteAddress ?? '',
      peer,
      forwardPath: target,
      forwardHeaders: forwardableHeaders(req.headers),
      details: {},
    };
    const out = runFilters(this.chainFor(cfg), x);
    return out instanceof Promise ? out.then((o) => verdictOf(o, x)) : verdictOf(out, x);
  }

  /** Built once per snapshot, with only the filters its configuration needs. */
  private chainFor(cfg: RuntimeConfig): RequestFilter[] {
    let chain = this.chains.get(cfg);
    if (!chain) {
      chain = buildInboundChain(cfg, {
        keys: this.deps.jwks.keys,
        keysFetched: this.deps.jwks.keysFetched,
        appPort: this.deps.appPort,
        log: this.deps.log,
        extAuthz: this.deps.extAuthz,
        dryRun: (d, x) => this.dryRun(d, x),
      });
      this.chains.set(cfg, chain);
    }
    return chain;
  }

  /** As Envoy's RBAC shadow rules report them: counted per action and result, and logged with the request. */
  private dryRun(d: ShadowDecision, x: Exchange): void {
    this.deps.metrics.dryRun.inc({ action: d.action, result: d.result, policy: d.policy ?? '' });
    this.deps.notice?.(
      {
        [`istio_dry_run_${d.action.toLowerCase()}_shadow_engine_result`]: d.result,
        [`istio_dry_run_${d.action.toLowerCase()}_shadow_effective_policy_id`]: d.policy ?? '',
        method: x.method,
        path: x.target,
        source_principal: x.peer,
      },
      `dry-run ${d.action} policies would have ${d.result} this request`,
    );
  }

  record(
    req: RequestView,
    labels: IstioLabels,
    started: number,
    span: ActiveSpan | undefined,
    peer: string | undefined,
    status: number,
    flags: ResponseFlag,
    resBytes: number,
    extra: Record<string, unknown> = {},
  ): void {
    labels.response_code = statusCodeLabel(status);
    labels.response_flags = flags;
    const ms = performance.now() - started;
    if (span)
      this.deps.tracer!.end(span, status, {
        'http.method': req.method ?? '',
        'http.url': `http://${req.headers.host ?? ''}${req.url ?? ''}`,
        peer_principal: peer ?? '',
        response_flags: flags,
        guid: String(req.headers['x-request-id'] ?? ''),
        node_id: this.deps.config()?.snapshot.proxy.id ?? '',
      });
    this.deps.metrics.record(labels, ms, Number(req.headers['content-length'] ?? 0), resBytes);
    const log = this.deps.accessLog;
    if (log?.wants('server')) {
      const entry = httpEntry({
        started,
        method: req.method,
        path: req.url,
        protocol: req.protocol ?? 'HTTP/1.1',
        headers: req.headers,
        authority: headerText(req.headers.host),
        status,
        flags,
        extra,
        bytesReceived: Number(req.headers['content-length'] ?? 0),
        bytesSent: resBytes,
        route: 'default',
        upstreamCluster: envoyClusterName('inbound', this.deps.appPort, undefined, ''),
        upstreamHost: `${this.deps.appHost}:${this.deps.appPort}`,
        downstream: req.socket,
      });
      log.write('server', entry, { headers: req.headers, mtls: peer !== undefined, sourcePrincipal: peer, grpcStatus: labels.grpc_response_status });
    }
  }
}

function verdictOf(out: FilterOutcome, x: Exchange): Verdict {
  if (out === 'close') return { kind: 'close' };
  if (out) return { kind: 'refuse', reply: out };
  return { kind: 'forward', forwardPath: x.forwardPath, headers: x.forwardHeaders };
}
