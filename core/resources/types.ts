// The resource envelope, shaped like Kubernetes/Istio objects so that Istio users' YAML applies
// unchanged, and the typed specs of the Istio APIs this mesh implements.

export type Kind =
  'VirtualService' | 'DestinationRule' | 'ServiceEntry' | 'Gateway' | 'PeerAuthentication' | 'AuthorizationPolicy' | 'RequestAuthentication' | 'Telemetry' | 'Sidecar' | 'LocalRateLimit';

export interface Metadata {
  name: string;
  namespace: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  /** Set by the store; an update must carry the version it read (optimistic concurrency). */
  resourceVersion?: string;
  creationTimestamp?: string;
}

export interface Resource<S = unknown> {
  apiVersion: string;
  kind: Kind;
  metadata: Metadata;
  spec: S;
}

export interface StringMatch {
  exact?: string;
  prefix?: string;
  regex?: string;
}

export interface PortSelector {
  number: number;
}

export interface Destination {
  host: string;
  subset?: string;
  port?: PortSelector;
}

export interface Percent {
  value: number;
}

export interface HeaderOperations {
  set?: Record<string, string>;
  add?: Record<string, string>;
  remove?: string[];
}

export interface HTTPMatchRequest {
  name?: string;
  uri?: StringMatch;
  scheme?: StringMatch;
  method?: StringMatch;
  authority?: StringMatch;
  headers?: Record<string, StringMatch>;
  withoutHeaders?: Record<string, StringMatch>;
  queryParams?: Record<string, StringMatch>;
  port?: number;
  ignoreUriCase?: boolean;
  sourceLabels?: Record<string, string>;
  sourceNamespace?: string;
  /** The match holds only on these: `mesh` (the sidecars) and Gateways by name or `namespace/name`. */
  gateways?: string[];
}

export interface HTTPRoute {
  name?: string;
  match?: HTTPMatchRequest[];
  route?: { destination: Destination; weight?: number; headers?: { request?: HeaderOperations; response?: HeaderOperations } }[];
  redirect?: { uri?: string; authority?: string; port?: number; scheme?: string; redirectCode?: number };
  directResponse?: { status: number; body?: { string?: string } };
  rewrite?: { uri?: string; authority?: string; uriRegexRewrite?: { match: string; rewrite: string } };
  timeout?: string;
  retries?: { attempts: number; perTryTimeout?: string; retryOn?: string };
  fault?: {
    delay?: { fixedDelay: string; percentage?: Percent };
    abort?: { httpStatus?: number; grpcStatus?: string; percentage?: Percent };
  };
  mirror?: Destination;
  mirrorPercentage?: Percent;
  /** Istio 1.18's list of mirrors, each with its own percentage (100 when absent). */
  mirrors?: { destination: Destination; percentage?: Percent }[];
  headers?: { request?: HeaderOperations; response?: HeaderOperations };
  corsPolicy?: {
    allowOrigins?: StringMatch[];
    allowMethods?: string[];
    allowHeaders?: string[];
    exposeHeaders?: string[];
    maxAge?: string;
    allowCredentials?: boolean;
    unmatchedPreflights?: 'UNSPECIFIED' | 'FORWARD' | 'IGNORE';
  };
}

export interface TCPRoute {
  match?: { port?: number; destinationSubnets?: string[]; sourceLabels?: Record<string, string>; gateways?: string[] }[];
  route: { destination: Destination; weight?: number }[];
}

/** Routes by the TLS server name, the stream left encrypted (a gateway's passthrough servers). */
export interface TLSRoute {
  match: { sniHosts: string[]; port?: number; destinationSubnets?: string[]; sourceLabels?: Record<string, string>; gateways?: string[] }[];
  route: { destination: Destination; weight?: number }[];
}

export interface VirtualServiceSpec {
  hosts: string[];
  /** Namespaces that see it (".", "*" or names); absent: all. */
  exportTo?: string[];
  gateways?: string[];
  http?: HTTPRoute[];
  tcp?: TCPRoute[];
  tls?: TLSRoute[];
}

export type GatewayProtocol = 'HTTP' | 'HTTPS' | 'HTTP2' | 'GRPC' | 'TCP' | 'TLS';

export interface GatewayServer {
  port: { number: number; name?: string; protocol: GatewayProtocol };
  /** `[namespace/]host`: the hosts of the VirtualServices this server takes, from which namespaces (`*` any, `.` the gateway's). */
  hosts: string[];
  tls?: {
    httpsRedirect?: boolean;
    mode?: 'PASSTHROUGH' | 'SIMPLE' | 'MUTUAL' | 'ISTIO_MUTUAL';
    credentialName?: string;
    subjectAltNames?: string[];
    minProtocolVersion?: string;
    maxProtocolVersion?: string;
  };
  name?: string;
}

export interface GatewaySpec {
  /** The gateway proxies (their labels) that carry these servers; absent: every gateway proxy. */
  selector?: Record<string, string>;
  servers: GatewayServer[];
}

export interface ConsistentHash {
  httpHeaderName?: string;
  httpCookie?: { name: string; path?: string; ttl?: string };
  useSourceIp?: boolean;
  httpQueryParameterName?: string;
}

export interface TrafficPolicy {
  loadBalancer?: { simple?: 'ROUND_ROBIN' | 'LEAST_REQUEST' | 'RANDOM' | 'UNSPECIFIED'; consistentHash?: ConsistentHash };
  connectionPool?: {
    tcp?: { maxConnections?: number; connectTimeout?: string; tcpKeepalive?: { probes?: number; time?: string; interval?: string } };
    http?: { http1MaxPendingRequests?: number; http2MaxRequests?: number; maxRequestsPerConnection?: number; maxRetries?: number; idleTimeout?: string };
  };
  outlierDetection?: {
    consecutive5xxErrors?: number;
    consecutiveGatewayErrors?: number;
    interval?: string;
    baseEjectionTime?: string;
    maxEjectionPercent?: number;
    minHealthPercent?: number;
  };
  tls?: {
    mode: 'DISABLE' | 'SIMPLE' | 'MUTUAL' | 'ISTIO_MUTUAL';
    sni?: string;
    subjectAltNames?: string[];
    caCertificates?: string;
    clientCertificate?: string;
    privateKey?: string;
    insecureSkipVerify?: boolean;
  };
  portLevelSettings?: (Omit<TrafficPolicy, 'portLevelSettings'> & { port: PortSelector })[];
}

export interface DestinationRuleSpec {
  host: string;
  /** Namespaces that see it (".", "*", "~" or names); absent: all. */
  exportTo?: string[];
  trafficPolicy?: TrafficPolicy;
  subsets?: { name: string; labels?: Record<string, string>; trafficPolicy?: TrafficPolicy }[];
}

export interface ServiceEntrySpec {
  hosts: string[];
  /** Namespaces that see it (".", "*", "~" or names); absent: all. */
  exportTo?: string[];
  addresses?: string[];
  ports?: { number: number; protocol?: string; name?: string; targetPort?: number }[];
  location?: 'MESH_EXTERNAL' | 'MESH_INTERNAL';
  resolution?: 'NONE' | 'STATIC' | 'DNS' | 'DNS_ROUND_ROBIN';
  endpoints?: { address: string; ports?: Record<string, number>; labels?: Record<string, string>; weight?: number }[];
  subjectAltNames?: string[];
}

export type MtlsMode = 'UNSET' | 'DISABLE' | 'PERMISSIVE' | 'STRICT';

export interface WorkloadSelector {
  matchLabels?: Record<string, string>;
}

/**
 * This mesh's own kind (policy.hostmesh.io/v1alpha1): Istio has no first-class local rate limit
 * (it takes an EnvoyFilter), so the fields are Envoy's local_ratelimit token bucket's.
 */
export interface TokenBucketSpec {
  maxTokens: number;
  tokensPerFill: number;
  fillInterval: string;
}

export interface LocalRateLimitSpec {
  selector?: WorkloadSelector;
  tokenBucket: TokenBucketSpec;
  /** Per-route buckets: a request matching a route's `match` (any of) takes from its bucket. */
  routes?: { name?: string; match: HTTPMatchRequest[]; tokenBucket: TokenBucketSpec }[];
}

export interface PeerAuthenticationSpec {
  selector?: WorkloadSelector;
  mtls?: { mode?: MtlsMode };
  portLevelMtls?: Record<string, { mode?: MtlsMode }>;
}

export interface AuthzSource {
  principals?: string[];
  notPrincipals?: string[];
  requestPrincipals?: string[];
  notRequestPrincipals?: string[];
  namespaces?: string[];
  notNamespaces?: string[];
  ipBlocks?: string[];
  notIpBlocks?: string[];
}

export interface AuthzOperation {
  hosts?: string[];
  notHosts?: string[];
  ports?: string[];
  notPorts?: string[];
  methods?: string[];
  notMethods?: string[];
  paths?: string[];
  notPaths?: string[];
}

export interface AuthzCondition {
  key: string;
  values?: string[];
  notValues?: string[];
}

export interface AuthorizationPolicySpec {
  selector?: WorkloadSelector;
  action?: 'ALLOW' | 'DENY' | 'AUDIT' | 'CUSTOM';
  provider?: { name: string };
  rules?: { from?: { source: AuthzSource }[]; to?: { operation: AuthzOperation }[]; when?: AuthzCondition[] }[];
}

export interface JwtRule {
  issuer: string;
  audiences?: string[];
  jwksUri?: string;
  jwks?: string;
  fromHeaders?: { name: string; prefix?: string }[];
  fromParams?: string[];
  fromCookies?: string[];
  forwardOriginalToken?: boolean;
  outputPayloadToHeader?: string;
  /** How long the sidecar waits for jwksUri to answer (5 s when absent). */
  timeout?: string;
  /** Claims (a dotted path reaches into nested objects) copied to request headers once the token verifies. */
  outputClaimToHeaders?: { header: string; claim: string }[];
}

export interface RequestAuthenticationSpec {
  selector?: WorkloadSelector;
  jwtRules?: JwtRule[];
}

/** telemetry.istio.io Telemetry: access logging and tracing, mesh-wide (root namespace), per namespace or per workload. */
export interface TelemetrySpec {
  selector?: WorkloadSelector;
  accessLogging?: {
    providers?: { name: string }[];
    disabled?: boolean;
    /** A CEL expression (core/access-log/filter.ts); only entries for which it is true are logged. */
    filter?: { expression: string };
    match?: { mode?: 'CLIENT' | 'SERVER' | 'CLIENT_AND_SERVER' };
  }[];
  tracing?: {
    providers?: { name: string }[];
    randomSamplingPercentage?: number;
    disableSpanReporting?: boolean;
    match?: { mode?: 'CLIENT' | 'SERVER' | 'CLIENT_AND_SERVER' };
  }[];
  metrics?: { providers?: { name: string }[] }[];
}

/** networking.istio.io Sidecar: which services a workload's sidecar is told about (egress hosts). */
export interface SidecarSpec {
  /** Istio's Sidecar names its selector `workloadSelector.labels`; absent: the whole namespace (root namespace: the mesh's default). */
  workloadSelector?: { labels: Record<string, string> };
  /** `namespace/host` entries: the namespace `*`, `.` (the Sidecar's own) or `~` (none); the host `*`, `*.suffix` or an FQDN. */
  egress?: { hosts: string[] }[];
}
