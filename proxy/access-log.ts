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

/** Envoy's name of the cluster a request went to (the destination port when the route named one, else the service's first). */
export function upstreamClusterName(cluster: Cluster | undefined, port: number | undefined, service: OutboundService | undefined): string | null {
  if (!cluster) return null;
  const fqdn = service?.external ? (service.hosts[0] ?? cluster.service) : serviceFqdn(cluster.service, cluster.namespace);
  return envoyClusterName('outbound', port ?? service?.ports[0]?.port, cluster.subset, fqdn);
}

export interface HttpRecord {
  /** performance.now() when the request arrived. */
  started: number;
  method: string | undefined;
  path: string | undefined;
  protocol: string;
  headers: IncomingHttpHeaders;
  authority: string | null;
  status: number;
  flags: string;
  extra: Readonly<Record<string, unknown>>;
  bytesReceived: number;
  bytesSent: number;
  route: string | null;
  upstreamCluster: string | null;
  upstreamHost: string | null;
  downstream: { remoteAddress?: string; remotePort?: number; localAddress?: string; localPort?: number } | undefined;
}

export function httpEntry(r: HttpRecord): AccessLogEntry {
  const elapsed = performance.now() - r.started;
  return {
    start_time: new Date(Date.now() - elapsed).toISOString(),
    route_name: r.route,
    method: r.method ?? null,
    path: r.path ?? null,
    protocol: r.protocol,
    response_code: r.status,
    response_flags: r.flags,
    response_code_details: responseCodeDetails(r.flags, r.status, r.extra),
    connection_termination_details: null,
    upstream_transport_failure_reason: typeof r.extra.error === 'string' ? r.extra.error : null,
    // A caller's Content-Length that is no number counts as nothing here.
    bytes_received: Number.isFinite(r.bytesReceived) ? r.bytesReceived : 0,
    bytes_sent: r.bytesSent,
    duration: Math.round(elapsed),
    upstream_service_time: null,
    x_forwarded_for: headerText(r.headers['x-forwarded-for']),
    user_agent: headerText(r.headers['user-agent']),
    request_id: headerText(r.headers['x-request-id']),
    authority: r.authority,
    upstream_host: r.upstreamHost,
    upstream_cluster: r.upstreamCluster,
    upstream_local_address: null,
    downstream_local_address: address(r.downstream?.localAddress, r.downstream?.localPort),
    downstream_remote_address: address(r.downstream?.remoteAddress, r.downstream?.remotePort),
    requested_server_name: null,
  };
}

export interface TcpRecord {
  started: number;
  flags: string;
  bytesReceived: number;
  bytesSent: number;
  upstreamCluster: string | null;
  upstreamHost: string | null;
  downstream: { remoteAddress?: string; remotePort?: number; localAddress?: string; localPort?: number } | undefined;
  failure?: string;
}

/** A TCP connection, logged when it closes: bytes each way and how long it lasted. */
export function tcpEntry(r: TcpRecord): AccessLogEntry {
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
    upstream_transport_failure_reason: r.failure ?? null,
    bytes_received: r.bytesReceived,
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
