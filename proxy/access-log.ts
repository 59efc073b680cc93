// The access log: one JSON line per request or TCP connection on stdout, in Istio's default JSON
// format (core/access-log/entry.ts), on by default and shaped by the workload's Telemetry
// resources (off, or only what a CEL filter holds for, per side). Built only when it will be
// written: a request the filter or a disabled rule drops costs a property read.
import type { IncomingHttpHeaders } from 'node:http';
import { envoyClusterName, headerText, responseCodeDetails, type AccessLogEntry } from '../core/access-log/entry.js';
import { filterPasses, type FilterFacts, type Value } from '../core/access-log/filter.js';
import type { Cluster, OutboundService } from '../core/snapshot/types.js';
import { serviceFqdn } from '../core/workload-meta.js';
import type { RuntimeConfig } from './runtime-config.js';

export type Side = 'client' | 'server';

export class AccessLog {
  constructor(
    private readonly out: (line: string) => void,
    private readonly config: () => RuntimeConfig | undefined,
  ) {}

  /** Whether anything of this side may be logged (a Telemetry may have turned it off). */
  wants(side: Side): boolean {
    return this.config()?.accessLogRules[side]?.enabled ?? true;
  }

  write(side: Side, entry: AccessLogEntry, extra: { headers?: IncomingHttpHeaders; mtls: boolean; sourcePrincipal?: string; grpcStatus?: string }): void {
    const rule = this.config()?.accessLogRules[side];
    if (rule && (!rule.enabled || (rule.filter && !filterPasses(rule.filter, entryFacts(entry, extra))))) return;
    this.out(`${JSON.stringify(entry)}\n`);
  }
}

/** The attributes a Telemetry filter reads, from the entry and what came with it. */
function entryFacts(e: AccessLogEntry, x: { headers?: IncomingHttpHeaders; mtls: boolean; sourcePrincipal?: string; grpcStatus?: string }): FilterFacts {
  const attrs: Record<string, Value> = {
    'request.method': e.method ?? undefined,
    'request.path': e.path ?? undefined,
    'request.url_path': e.path?.split('?')[0],
    'request.host': e.authority ?? undefined,
    'request.scheme': e.method ? 'http' : undefined,
    'request.protocol': e.protocol ?? undefined,
    'request.id': e.request_id ?? undefined,
    'request.useragent': e.user_agent ?? undefined,
    'response.code': e.response_code,
    'response.code_details': e.response_code_details ?? undefined,
    'response.flags': e.response_flags,
    'response.grpc_status': x.grpcStatus || undefined,
    'connection.mtls': x.mtls,
    'source.address': e.downstream_remote_address ?? undefined,
    'source.principal': x.sourcePrincipal,
    'upstream.address': e.upstream_host ?? undefined,
  };
  return { get: (name) => attrs[name], header: (name) => headerText(x.headers?.[name]) ?? undefined };
}

const address = (host: string | undefined, port: number | undefined) => (host ? (port ? `${host}:${port}` : host) : null);

/** The host a cluster serves, as Envoy's cluster names carry it: a ServiceEntry's host, else the service's FQDN. */
export function clusterFqdn(cluster: Cluster, service: OutboundService | undefined): string {
  return service?.external ? (service.hosts[0] ?? cluster.service) : serviceFqdn(cluster.service, cluster.namespace);
}

/** Envoy's name of the cluster a request went to (the destination port when the route named one, else the service's first). */
export function upstreamClusterName(cluster: Cluster | undefined, port: number | undefined, service: OutboundService | undefined): string | null {
  if (!cluster) return null;
  return envoyClusterName('outbound', port ?? service?.ports[0]?.port, cluster.subset, clusterFqdn(cluster, service));
}

/** What every entry has, HTTP or TCP: when, how long, bytes, flags, where from and to. */
interface ConnectionRecord {
  /** performance.now() when the request or connection arrived. */
  started: number;
  flags: string;
  bytesReceived: number;
  bytesSent: number;
  upstreamCluster: string | null;
  upstreamHost: string | null;
  downstream: { remoteAddress?: string; remotePort?: number; localAddress?: string; localPort?: number } | undefined;
}

export interface HttpRecord extends ConnectionRecord {
  method: string | undefined;
  path: string | undefined;
  protocol: string;
  headers: IncomingHttpHeaders;
  authority: string | null;
  status: number;
  extra: Readonly<Record<string, unknown>>;
  route: string | null;
}

export interface TcpRecord extends ConnectionRecord {
  failure?: string;
}

/** An entry in Istio's field order, the HTTP fields null: httpEntry fills them in place (overwriting keeps the order). */
function baseEntry(r: ConnectionRecord, failure: string | null): AccessLogEntry {
  const elapsed = performance.now() - r.started;
  return {
    start_time: new Date(Date.now() - elapsed).toISOString(),
    route_name: null,
    method: null,
    path: null,
    protocol: null,
    response_code: 0,
    response_flags: r.flags,
    response_code_details: null,
    connection_termination_details: null,
    upstream_transport_failure_reason: failure,
    // A caller's Content-Length that is no number counts as nothing here.
    bytes_received: Number.isFinite(r.bytesReceived) ? r.bytesReceived : 0,
    bytes_sent: r.bytesSent,
    duration: Math.round(elapsed),
    upstream_service_time: null,
    x_forwarded_for: null,
    user_agent: null,
    request_id: null,
    authority: null,
    upstream_host: r.upstreamHost,
    upstream_cluster: r.upstreamCluster,
    upstream_local_address: null,
    downstream_local_address: address(r.downstream?.localAddress, r.downstream?.localPort),
    downstream_remote_address: address(r.downstream?.remoteAddress, r.downstream?.remotePort),
    requested_server_name: null,
  };
}

export function httpEntry(r: HttpRecord): AccessLogEntry {
  const e = baseEntry(r, typeof r.extra.error === 'string' ? r.extra.error : null);
  e.route_name = r.route;
  e.method = r.method ?? null;
  e.path = r.path ?? null;
  e.protocol = r.protocol;
  e.response_code = r.status;
  e.response_code_details = responseCodeDetails(r.flags, r.status, r.extra);
  e.x_forwarded_for = headerText(r.headers['x-forwarded-for']);
  e.user_agent = headerText(r.headers['user-agent']);
  e.request_id = headerText(r.headers['x-request-id']);
  e.authority = r.authority;
  return e;
}

/** A TCP connection, logged when it closes: bytes each way and how long it lasted. */
export function tcpEntry(r: TcpRecord): AccessLogEntry {
  return baseEntry(r, r.failure ?? null);
}
