// Envoy's response flags, with Envoy's meanings (the `response_flags` metric label and access
// log field). One vocabulary for every codec: a flag is one of these, never a free string.
export const RESPONSE_FLAGS = {
  /** No flag: the upstream answered. */
  NONE: '-',
  /** No route configuration for the request (Envoy NR). */
  NO_ROUTE: 'NR',
  /** No cluster for the route's destination (Envoy NC): a subset no DestinationRule defines. */
  NO_CLUSTER: 'NC',
  /** No healthy upstream host (Envoy UH). */
  NO_HEALTHY_UPSTREAM: 'UH',
  /** Upstream connection failure (Envoy UF). */
  UPSTREAM_CONNECTION_FAILURE: 'UF',
  /** Upstream overflow: connection-pool limits (Envoy UO). */
  UPSTREAM_OVERFLOW: 'UO',
  /** Upstream request timeout (Envoy UT). */
  UPSTREAM_TIMEOUT: 'UT',
  /** Upstream protocol error (Envoy UPE). */
  UPSTREAM_PROTOCOL_ERROR: 'UPE',
  /** Downstream connection terminated (Envoy DC). */
  DOWNSTREAM_CONNECTION_TERMINATION: 'DC',
  /** Downstream protocol error (Envoy DPE): a request path that cannot be normalised. */
  DOWNSTREAM_PROTOCOL_ERROR: 'DPE',
  /** Request denied by the RBAC filter: AuthorizationPolicy (Envoy's RBAC access log flag). */
  RBAC_DENIED: 'RBAC',
  /** Unauthorized by an external authorization service (Envoy UAEX). */
  UNAUTHORIZED_EXTERNAL: 'UAEX',
  /** Rate limited locally (Envoy RL). */
  RATE_LIMITED: 'RL',
  /** Fault injection abort (Envoy FI). */
  FAULT_INJECTED: 'FI',
  /** Answered by the route itself: direct response or redirect (Envoy DR). */
  DIRECT_RESPONSE: 'DR',
} as const;

export type ResponseFlag = (typeof RESPONSE_FLAGS)[keyof typeof RESPONSE_FLAGS];
