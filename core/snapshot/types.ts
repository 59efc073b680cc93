// The contract between the controller and every sidecar: one versioned document per proxy
// holding everything it needs to carry traffic. docs/snapshot.md describes each field.
// Durations are integer milliseconds, percentages 0-100, so the proxy parses nothing.
import type { ExtAuthzHttpProvider } from '../mesh-config.js';

export const SNAPSHOT_SCHEMA_VERSION = 1;

export type StringMatcher = { exact: string } | { prefix: string } | { regex: string };

export type MtlsMode = 'STRICT' | 'PERMISSIVE' | 'DISABLE';

export interface ProxySnapshot {
  schemaVersion: typeof SNAPSHOT_SCHEMA_VERSION;
  /** Content hash; equal versions mean equal content. */
  version: string;
  proxy: ProxyIdentity;
  inbound: InboundConfig;
  outbound: OutboundConfig;
  /** Gateway proxies only: the listeners the Gateways selecting it declare, with the routes bound to them. */
  gateway?: GatewayConfig;
  /** Telemetry resources that apply to this workload; absent: the defaults (access log on, the sidecar's --trace-sampling). */
  telemetry?: TelemetryConfig;
  /** PEM roots that peer certificates must chain to (more than one during a root rotation). */
  trustBundle: string[];
}

/** Access logging and tracing per side: client (requests the workload makes) and server (requests it serves). A side left out keeps the default. */
export interface TelemetryConfig {
  /** The Telemetry resources that decided, `namespace/name`. */
  sources: string[];
  accessLog?: { client?: AccessLogRule; server?: AccessLogRule };
  tracing?: { client?: TracingRule; server?: TracingRule };
}

export interface AccessLogRule {
  enabled: boolean;
  /** A CEL filter (core/access-log/filter.ts): only entries it holds for are logged. */
  filter?: string;
}

export interface TracingRule {
  /** No spans are started or reported (trace context still passes through). */
  disabled: boolean;
  /** Percent of new traces sampled; absent: the sidecar's --trace-sampling. */
  samplingPercent?: number;
}

export interface GatewayConfig {
  /** One per port; the servers of several Gateways on one port share it (split by host). */
  listeners: GatewayListener[];
}

export interface GatewayTls {
  /** The server's hosts (without namespace); `*` and `*.domain` as in the Gateway. */
  hosts: string[];
  /** SIMPLE: the credential's certificate; MUTUAL: and client certificates from its CA; ISTIO_MUTUAL: the gateway's mesh identity both ways. */
  mode: 'SIMPLE' | 'MUTUAL' | 'ISTIO_MUTUAL';
  /** `namespace/name` of the TLS credential (the gateway's namespace), fetched by the gateway itself: no key is ever in a snapshot. */
  credential?: string;
  /** MUTUAL and ISTIO_MUTUAL: a client certificate must carry one of these (DNS, URI or SPIFFE ID); empty: any from the CA. */
  subjectAltNames: string[];
  minVersion?: 'TLSv1.2' | 'TLSv1.3';
  maxVersion?: 'TLSv1.2' | 'TLSv1.3';
}

export interface GatewayListener {
  port: number;
  protocol: 'HTTP' | 'HTTPS' | 'HTTP2' | 'GRPC' | 'TCP' | 'TLS';
  /** `namespace/name` of each Gateway with a server on this port. */
  gateways: string[];
  /** HTTPS: each server's TLS settings; a client's SNI picks the first whose hosts match it, else the first. */
  tls?: GatewayTls[];
  /**
   * The VirtualServices bound to those Gateways, each with the hosts it serves here: HTTP picks
   * by the request's host (exact, then the longest wildcard, then "*"), TCP takes the first.
   * Their routes name clusters of the outbound config.
   */
  virtualHosts: OutboundService[];
}

export interface ProxyIdentity {
  id: string;
  service: string;
  namespace: string;
  /** SPIFFE ID the proxy's certificate carries. */
  identity: string;
  trustDomain: string;
  labels: Record<string, string>;
}

export interface InboundConfig {
  ports: InboundPort[];
  authorization: {
    /** Evaluated in this order: CUSTOM (an external authorizer decides the requests its rules match); DENY wins; then ALLOW (none means allow, any means must match one). */
    deny: CompiledAuthzPolicy[];
    allow: CompiledAuthzPolicy[];
    audit: CompiledAuthzPolicy[];
    custom?: CompiledCustomPolicy[];
    /**
     * Policies annotated `istio.io/dry-run: "true"`: evaluated as Istio's shadow rules (each action
     * on its own, as if they were the only policies of that action) and logged and counted, never
     * enforced.
     */
    dryRun?: { deny: CompiledAuthzPolicy[]; allow: CompiledAuthzPolicy[] };
  };
  jwtRules: CompiledJwtRule[];
  /**
   * A LocalRateLimit applies: every inbound request takes a token; none left answers 429. A
   * request matching one of `routes` takes from that route's bucket instead (first match).
   */
  rateLimit?: { policy: string; maxTokens: number; tokensPerFill: number; fillIntervalMs: number; routes?: RateLimitRoute[] };
}

export interface InboundPort {
  /** The application's port: where the sidecar forwards after policy. */
  port: number;
  protocol: 'http' | 'http2' | 'grpc' | 'tcp' | 'auto';
  mtlsMode: MtlsMode;
}

/** AuthorizationPolicy CUSTOM: requests its rules match are checked by `provider`; absent (not in the mesh config): refused, as Istio fails closed. */
export interface CompiledCustomPolicy extends CompiledAuthzPolicy {
  providerName: string;
  provider?: ExtAuthzHttpProvider;
}

export interface CompiledAuthzPolicy {
  /** `namespace/name` of the AuthorizationPolicy. */
  name: string;
  /** An empty list under ALLOW means deny-all, as in Istio. */
  rules: CompiledAuthzRule[];
}

export interface CompiledAuthzRule {
  /** Any-of sources; each source's fields are all-of. Empty means any source. */
  from: AuthzSourceMatch[];
  /** Any-of operations. Empty means any operation. */
  to: AuthzOperationMatch[];
  /** All-of conditions. */
  when: { key: string; values?: string[]; notValues?: string[] }[];
}

export interface AuthzSourceMatch {
  principals?: string[];
  notPrincipals?: string[];
  requestPrincipals?: string[];
  notRequestPrincipals?: string[];
  namespaces?: string[];
  notNamespaces?: string[];
  ipBlocks?: string[];
  notIpBlocks?: string[];
}

export interface AuthzOperationMatch {
  hosts?: string[];
  notHosts?: string[];
  ports?: number[];
  notPorts?: number[];
  methods?: string[];
  notMethods?: string[];
  paths?: string[];
  notPaths?: string[];
}

export interface CompiledJwtRule {
  issuer: string;
  audiences: string[];
  /** Inline JWKS (JSON text) or a URL the proxy fetches and caches. */
  jwks?: string;
  jwksUri?: string;
  fromHeaders: { name: string; prefix: string }[];
  fromParams: string[];
  /** How long a fetch of jwksUri may take (RequestAuthentication `timeout`); absent: 5 s. */
  jwksTimeoutMs?: number;
  /** Cookie names to read a token from; absent when none. */
  fromCookies?: string[];
  forwardOriginalToken: boolean;
  outputPayloadToHeader?: string;
  /** Headers set from the verified token's claims (`header` lower-case; `claim` a dotted path). */
  outputClaimToHeaders?: { header: string; claim: string }[];
}

export interface RateLimitRoute {
  /** `routes[i]` or the route's own name, reported with the 429. */
  name: string;
  /** Any-of, as VirtualService matches. */
  match: CompiledMatch[];
  maxTokens: number;
  tokensPerFill: number;
  fillIntervalMs: number;
}

export interface OutboundConfig {
  services: OutboundService[];
}

export interface OutboundService {
  name: string;
  namespace: string;
  /** Host/authority values (without port) that select this service. */
  hosts: string[];
  /** True for ServiceEntry hosts outside the mesh. */
  external: boolean;
  ports: { port: number; protocol: InboundPort['protocol'] }[];
  /** First match wins; the last route of a service matches everything unless a VirtualService says otherwise. */
  httpRoutes: CompiledHttpRoute[];
  tcpRoutes: CompiledTcpRoute[];
  clusters: Cluster[];
}

export interface CompiledMatch {
  uri?: StringMatcher;
  scheme?: StringMatcher;
  method?: StringMatcher;
  authority?: StringMatcher;
  headers?: Record<string, StringMatcher>;
  withoutHeaders?: Record<string, StringMatcher>;
  queryParams?: Record<string, StringMatcher>;
  port?: number;
  ignoreUriCase?: boolean;
}

export interface HeaderOps {
  set?: Record<string, string>;
  add?: Record<string, string>;
  remove?: string[];
}

export interface WeightedCluster {
  cluster: string;
  /** 0-100; the weights of a route sum to 100. */
  weight: number;
  /** Destination port when the VirtualService names one. */
  port?: number;
  headers?: { request?: HeaderOps; response?: HeaderOps };
}

export type RouteAction =
  | { type: 'route'; destinations: WeightedCluster[] }
  | { type: 'redirect'; uri?: string; authority?: string; port?: number; scheme?: string; code: number }
  | { type: 'direct'; status: number; body?: string };

export interface RetryPolicy {
  attempts: number;
  perTryTimeoutMs?: number;
  retryOn: string[];
}

export interface CompiledHttpRoute {
  /** `namespace/virtualservice/index` or `default` for the implicit route. */
  name: string;
  /** Any-of; empty matches every request. */
  match: CompiledMatch[];
  action: RouteAction;
  /** `uriRegexRewrite`: every match of `match` in the path replaced by `rewrite` (core/routing/regex-rewrite.ts). */
  rewrite?: { uri?: string; authority?: string; uriRegexRewrite?: { match: string; rewrite: string } };
  timeoutMs?: number;
  retries?: RetryPolicy;
  /** `abort.grpcStatus`: a gRPC caller gets this code (trailers-only, HTTP 200), any other caller a 200, as Envoy's fault filter. */
  fault?: { delay?: { delayMs: number; percent: number }; abort?: { status: number; percent: number; grpcStatus?: number } };
  mirror?: { cluster: string; percent: number };
  /** VirtualService `mirrors`: each copy decided on its own (`mirror` stays for the single one, as older sidecars read it). */
  mirrors?: { cluster: string; percent: number }[];
  headers?: { request?: HeaderOps; response?: HeaderOps };
  /** VirtualService corsPolicy: preflights from allowed origins answered by the sidecar, CORS headers added to answers. */
  cors?: {
    allowOrigins: StringMatcher[];
    allowMethods: string[];
    allowHeaders: string[];
    exposeHeaders: string[];
    maxAgeSeconds?: number;
    allowCredentials: boolean;
    forwardUnmatchedPreflights: boolean;
  };
}

export interface CompiledTcpRoute {
  /** `sniHosts`: a VirtualService tls route (a gateway's passthrough server) holds for these TLS server names only. */
  match: { port?: number; destinationSubnets?: string[]; sniHosts?: string[] }[];
  destinations: WeightedCluster[];
}

export type LbPolicy =
  | { type: 'ROUND_ROBIN' | 'LEAST_REQUEST' | 'RANDOM' }
  | { type: 'CONSISTENT_HASH'; header?: string; cookie?: { name: string; path?: string; ttlMs?: number }; sourceIp?: boolean; queryParam?: string };

export interface ConnectionPool {
  maxConnections: number;
  maxPendingRequests: number;
  maxRequests: number;
  /** 0 means unlimited. */
  maxRequestsPerConnection: number;
  maxRetries: number;
  connectTimeoutMs: number;
  idleTimeoutMs: number;
  /** DestinationRule tcpKeepalive on upstream connections; absent: none (the system's default is off). Each value absent: the system's. */
  tcpKeepalive?: { timeS?: number; intervalS?: number; probes?: number };
}

export interface OutlierDetection {
  consecutive5xxErrors: number;
  consecutiveGatewayErrors: number;
  intervalMs: number;
  baseEjectionTimeMs: number;
  maxEjectionPercent: number;
  minHealthPercent: number;
}

export interface ClusterTls {
  /** AUTO: mTLS with the mesh identity to endpoints that have a sidecar, plaintext otherwise (Istio's auto mTLS). */
  mode: 'AUTO' | 'ISTIO_MUTUAL' | 'DISABLE' | 'SIMPLE' | 'MUTUAL';
  /** SPIFFE IDs (or DNS names for SIMPLE/MUTUAL) the server certificate must carry. */
  subjectAltNames: string[];
  sni?: string;
  caCertificates?: string;
  /** Only when the DestinationRule says so: the server's certificate is not checked. */
  insecureSkipVerify?: boolean;
  clientCertificate?: string;
  privateKey?: string;
}

export interface ClusterPolicy {
  lb: LbPolicy;
  connectionPool: ConnectionPool;
  outlierDetection?: OutlierDetection;
  tls: ClusterTls;
}

export interface Endpoint {
  address: string;
  /** The application's port. */
  port: number;
  /** When set, connect here with mTLS (the remote sidecar's inbound listener). */
  sidecarPort?: number;
  labels: Record<string, string>;
  weight: number;
  /** A ServiceEntry endpoint: the entry's port it serves (one address has an endpoint per port). */
  servicePort?: number;
}

export interface Cluster extends ClusterPolicy {
  /** `outbound|<subset>|<service>.<namespace>`; subset empty for the whole service. */
  name: string;
  service: string;
  namespace: string;
  subset?: string;
  endpoints: Endpoint[];
  /** DestinationRule portLevelSettings, by destination port. */
  portPolicies?: Record<string, ClusterPolicy>;
}
