// One access-log line in the field names and meanings of Istio's default JSON access log (Envoy's
// command operators: START_TIME, RESPONSE_CODE_DETAILS, UPSTREAM_CLUSTER, ...), for HTTP
// requests and TCP connections alike; null where Envoy would print "-". Pure.

export interface AccessLogEntry {
  start_time: string;
  route_name: string | null;
  method: string | null;
  path: string | null;
  protocol: string | null;
  response_code: number;
  response_flags: string;
  response_code_details: string | null;
  connection_termination_details: string | null;
  upstream_transport_failure_reason: string | null;
  bytes_received: number;
  bytes_sent: number;
  duration: number;
  upstream_service_time: number | null;
  x_forwarded_for: string | null;
  user_agent: string | null;
  request_id: string | null;
  authority: string | null;
  upstream_host: string | null;
  upstream_cluster: string | null;
  upstream_local_address: string | null;
  downstream_local_address: string | null;
  downstream_remote_address: string | null;
  requested_server_name: string | null;
}

/** Envoy's RESPONSE_CODE_DETAILS for what the sidecar did: "via_upstream" when the upstream answered. */
const DETAILS: Record<string, string> = {
  NR: 'route_not_found',
  NC: 'cluster_not_found',
  UH: 'no_healthy_upstream',
  UF: 'upstream_reset_before_response_started{connection_failure}',
  UO: 'overflow',
  UT: 'upstream_response_timeout',
  UPE: 'upstream_reset_after_response_started{protocol_error}',
  DC: 'downstream_remote_disconnect',
  DPE: 'path_normalization_failed',
  UAEX: 'ext_authz_denied',
  RL: 'local_rate_limited',
  FI: 'fault_filter_abort',
  DR: 'direct_response',
};

export function responseCodeDetails(flags: string, status: number, extra: Readonly<Record<string, unknown>>): string | null {
  if (flags === 'RBAC') return `rbac_access_denied_matched_policy[${typeof extra.policy === 'string' ? extra.policy : 'none'}]`;
  if (DETAILS[flags]) return DETAILS[flags];
  if (typeof extra.refused === 'string') {
    if (status === 401) return 'jwt_authn_access_denied';
    return extra.refused
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '_')
      .replace(/^_|_$/g, '');
  }
  return status > 0 ? 'via_upstream' : null;
}

/** `outbound|9080|v1|reviews.default.svc.cluster.local` (Envoy's cluster names under Istio). */
export function envoyClusterName(direction: 'outbound' | 'inbound', port: number | undefined, subset: string | undefined, fqdn: string): string {
  return `${direction}|${port ?? ''}|${subset ?? ''}|${fqdn}`;
}

/** A header value as one string (repeated headers joined as Envoy prints them), or null. */
export function headerText(v: string | string[] | undefined): string | null {
  if (v === undefined) return null;
  return Array.isArray(v) ? v.join(',') : v;
}
