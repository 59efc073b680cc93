// Outbound side of a proxy snapshot: for every service the proxy may call, its routes
// (VirtualService) and clusters (catalog endpoints shaped by the DestinationRule).
import type { ServiceInstance } from '../catalog-model.js';
import { durationMs } from '../duration.js';
import { hostAliases, serviceForHost, serviceKey } from '../hosts.js';
import { GRPC_CODE_NAMES } from '../routing/grpc-status.js';
import type { Destination, DestinationRuleSpec, HTTPMatchRequest, HTTPRoute, Resource, ServiceEntrySpec, SidecarSpec, StringMatch, TrafficPolicy, VirtualServiceSpec } from '../resources/types.js';
import type { ServiceReuse } from './compile-memo.js';
import { egressAdmits } from './sidecar-scope.js';
import { destinationRuleRank, exportedTo } from './export-to.js';
import { DEFAULT_CONNECTION_POOL, DEFAULT_OUTLIER, DEFAULT_RETRIES } from './defaults.js';
import { byAgeThenName, selectorMatches } from './selectors.js';
import { boundToMesh, MESH_GATEWAY } from './gateway-binding.js';
import type {
  Cluster,
  ClusterPolicy,
  CompiledHttpRoute,
  CompiledMatch,
  CompiledTcpRoute,
  Endpoint,
  HeaderOps,
  InboundPort,
  OutboundConfig,
  OutboundService,
  StringMatcher,
  WeightedCluster,
} from './types.js';

/** A ServiceEntry's inputs name no catalog instances: one shared empty list, which a reuse compares by identity. */
const NO_INSTANCES: readonly ServiceInstance[] = [];

export interface SourceWorkload {
  namespace: string;
  labels: Record<string, string>;
  /** A gateway's routes are compiled for these Gateways (`namespace/name`); absent: a sidecar (`mesh`). */
  gateways?: string[];
  /** Istio's Sidecar that applies (sidecar-scope.ts): only the services it admits are compiled. */
  sidecar?: Resource<SidecarSpec>;
}

export interface OutboundInput {
  resources: Resource[];
  /** Healthy instances by `namespace/name`. */
  services: ReadonlyMap<string, ServiceInstance[]>;
  trustDomain: string;
}

export function clusterName(service: string, namespace: string, subset?: string): string {
  return `outbound|${subset ?? ''}|${service}.${namespace}`;
}

export function spiffeId(trustDomain: string, namespace: string, service: string): string {
  return `spiffe://${trustDomain}/ns/${namespace}/sa/${service}`;
}

/** `reuse`: a mesh service's entry from the round before when made of the same inputs (compile-memo.ts); it must be scoped to this source. */
export function compileOutbound(input: OutboundInput, source: SourceWorkload, reuse?: ServiceReuse): OutboundConfig {
  // Only what is exported to the proxy's namespace (exportTo) is compiled for it.
  const byKind = <S extends { exportTo?: string[] }>(kind: string) =>
    (input.resources.filter((r) => r.kind === kind && exportedTo(r as Resource<S>, source.namespace)) as Resource<S>[]).sort(byAgeThenName);
  const drs = firstPerService(
    byKind<DestinationRuleSpec>('DestinationRule'),
    (r) => [r.spec.host],
    (r, serviceNamespace) => destinationRuleRank(r, source.namespace, serviceNamespace),
  );
  // VirtualServices bound only to gateways do not route the sidecars' traffic.
  const vss = firstPerService(byKind<VirtualServiceSpec>('VirtualService').filter(boundToMesh), (r) => r.spec.hosts);

  const services: OutboundService[] = [];
  const admits = (namespace: string, hosts: string[]) => !source.sidecar || egressAdmits(source.sidecar, source.namespace, namespace, hosts);
  for (const [key, instances] of [...input.services.entries()].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const [namespace, name] = key.split('/');
    if (!admits(namespace, [`${name}.${namespace}.svc.cluster.local`])) continue;
    const dr = drs.get(key);
    const vs = vss.get(key);
    // Made of the name, the instances, the two resources, the source and the trust domain only: what a reuse compares.
    const compile = (): OutboundService => ({
      name,
      namespace,
      hosts: hostAliases({ name, namespace }, source.namespace),
      external: false,
      ports: servicePorts(instances),
      httpRoutes: vs ? compileHttpRoutes(vs, source) : [defaultHttpRoute(name, namespace)],
      tcpRoutes: vs?.spec.tcp ? compileTcpRoutes(vs, source) : [{ match: [], destinations: [{ cluster: clusterName(name, namespace), weight: 100 }] }],
      clusters: compileClusters(name, namespace, instances.map(toEndpoint), dr?.spec, input.trustDomain, true, serviceAccounts(instances, name)),
    });
    services.push(reuse ? reuse.service(key, { instances, dr, vs }, compile) : compile());
  }
  for (const se of byKind<ServiceEntrySpec>('ServiceEntry')) {
    if (!admits(se.metadata.namespace, se.spec.hosts)) continue;
    for (const host of se.spec.hosts) {
      const h = host.toLowerCase();
      const dr = drs.get(`external/${h}`);
      const vs = vss.get(`external/${h}`);
      // Made of the entry, the host, the two resources, the source and the trust domain only.
      const compile = () => serviceEntryService(se, h, dr?.spec, vs, source, input.trustDomain);
      // Keyed by the entry as well as the host: two entries may name one host.
      services.push(reuse ? reuse.service(`entry/${se.metadata.namespace}/${se.metadata.name}/${h}`, { instances: NO_INSTANCES, dr, vs, entry: se }, compile) : compile());
    }
  }
  return { services };
}

/**
 * Maps each resource to the services its hosts name; the oldest resource for a service wins, as
 * in Istio, unless `rank(resource, serviceNamespace)` prefers another (lower first).
 */
function firstPerService<S>(resources: Resource<S>[], hostsOf: (r: Resource<S>) => string[], rank?: (r: Resource<S>, serviceNamespace: string) => number): Map<string, Resource<S>> {
  const out = new Map<string, Resource<S>>();
  for (const r of resources) {
    for (const h of hostsOf(r)) {
      const ref = serviceForHost(h, r.metadata.namespace);
      const key = ref ? serviceKey(ref) : `external/${h.toLowerCase()}`;
      const held = out.get(key);
      if (!held || (rank && ref && rank(r, ref.namespace) < rank(held, ref.namespace))) out.set(key, r);
    }
  }
  return out;
}

/** The identities a service's endpoints may present: their service accounts (Istio's subjectAltNames of a service). */
function serviceAccounts(instances: ServiceInstance[], service: string): string[] {
  return [...new Set(instances.map((i) => i.serviceAccount ?? service))].sort();
}

function servicePorts(instances: ServiceInstance[]): OutboundService['ports'] {
  const ports = new Map<number, InboundPort['protocol']>();
  for (const i of instances) if (!ports.has(i.port)) ports.set(i.port, i.protocol ?? 'auto');
  return [...ports.entries()].sort(([a], [b]) => a - b).map(([port, protocol]) => ({ port, protocol }));
}

function toEndpoint(i: ServiceInstance): Endpoint {
  const e: Endpoint = { address: i.address, port: i.port, labels: i.labels, weight: 1 };
  if (i.sidecar) e.sidecarPort = i.sidecar.inboundPort;
  return e;
}

function defaultHttpRoute(name: string, namespace: string): CompiledHttpRoute {
  return { name: 'default', match: [], action: { type: 'route', destinations: [{ cluster: clusterName(name, namespace), weight: 100 }] }, retries: DEFAULT_RETRIES };
}

function destinationCluster(d: Destination, namespace: string): { cluster: string; port?: number } {
  const ref = serviceForHost(d.host, namespace);
  const cluster = ref ? clusterName(ref.name, ref.namespace, d.subset) : clusterName(d.host.toLowerCase(), namespace, d.subset);
  return d.port ? { cluster, port: d.port.number } : { cluster };
}

export function compileHttpRoutes(vs: Resource<VirtualServiceSpec>, source: SourceWorkload): CompiledHttpRoute[] {
  const ns = vs.metadata.namespace;
  const out: CompiledHttpRoute[] = [];
  (vs.spec.http ?? []).forEach((r, index) => {
    // Matches that name source labels or a source namespace are decided here, per proxy.
    const matches = (r.match ?? []).filter((m) => sourceMatches(m, source) && gatewayMatches(m.gateways, ns, source));
    if (r.match && r.match.length > 0 && matches.length === 0) return;
    out.push(compileHttpRoute(r, matches, `${ns}/${vs.metadata.name}/${r.name ?? index}`, ns));
  });
  return out;
}

/** A match's `gateways`: it holds only on the sidecars (`mesh`) or the Gateways it names. */
function gatewayMatches(gateways: string[] | undefined, vsNamespace: string, source: SourceWorkload): boolean {
  if (!gateways || gateways.length === 0) return true;
  const here = source.gateways ?? [MESH_GATEWAY];
  return gateways.some((g) => here.includes(g === MESH_GATEWAY || g.includes('/') ? g : `${vsNamespace}/${g}`));
}

function sourceMatches(m: HTTPMatchRequest, source: SourceWorkload): boolean {
  if (m.sourceNamespace && m.sourceNamespace !== source.namespace) return false;
  return selectorMatches({ matchLabels: m.sourceLabels }, source.labels);
}

function compileHttpRoute(r: HTTPRoute, matches: HTTPMatchRequest[], name: string, ns: string): CompiledHttpRoute {
  const route: CompiledHttpRoute = { name, match: matches.map(compileMatch), action: { type: 'direct', status: 500 } };
  if (r.route) {
    const single = r.route.length === 1;
    route.action = {
      type: 'route',
      destinations: r.route.map((d): WeightedCluster => {
        const w: WeightedCluster = { ...destinationCluster(d.destination, ns), weight: single ? 100 : (d.weight ?? 0) };
        if (d.headers) w.headers = { ...(d.headers.request ? { request: headerOps(d.headers.request) } : {}), ...(d.headers.response ? { response: headerOps(d.headers.response) } : {}) };
        return w;
      }),
    };
  } else if (r.redirect) {
    route.action = { type: 'redirect', code: r.redirect.redirectCode ?? 301, ...pickDefined(r.redirect, ['uri', 'authority', 'port', 'scheme']) };
  } else if (r.directResponse) {
    route.action = { type: 'direct', status: r.directResponse.status, ...(r.directResponse.body?.string !== undefined ? { body: r.directResponse.body.string } : {}) };
  }
  if (r.rewrite) {
    route.rewrite = pickDefined(r.rewrite, ['uri', 'authority']);
    if (r.rewrite.uriRegexRewrite) route.rewrite.uriRegexRewrite = { match: r.rewrite.uriRegexRewrite.match, rewrite: r.rewrite.uriRegexRewrite.rewrite };
  }
  if (r.timeout) route.timeoutMs = durationMs(r.timeout, 'timeout');
  route.retries = r.retries
    ? {
        attempts: r.retries.attempts,
        retryOn: r.retries.retryOn
          ? r.retries.retryOn
              .split(',')
              .map((s) => s.trim())
              .filter(Boolean)
          : DEFAULT_RETRIES.retryOn,
        ...(r.retries.perTryTimeout ? { perTryTimeoutMs: durationMs(r.retries.perTryTimeout, 'perTryTimeout') } : {}),
      }
    : DEFAULT_RETRIES;
  if (r.fault) {
    route.fault = {};
    if (r.fault.delay) route.fault.delay = { delayMs: durationMs(r.fault.delay.fixedDelay, 'fixedDelay'), percent: r.fault.delay.percentage?.value ?? 100 };
    if (r.fault.abort) {
      const { httpStatus, grpcStatus, percentage } = r.fault.abort;
      route.fault.abort = { status: httpStatus ?? 200, percent: percentage?.value ?? 100 };
      if (grpcStatus !== undefined && httpStatus === undefined) route.fault.abort.grpcStatus = GRPC_CODE_NAMES.indexOf(grpcStatus as (typeof GRPC_CODE_NAMES)[number]);
    }
  }
  if (r.mirror) route.mirror = { cluster: destinationCluster(r.mirror, ns).cluster, percent: r.mirrorPercentage?.value ?? 100 };
  if (r.mirrors?.length) route.mirrors = r.mirrors.map((m) => ({ cluster: destinationCluster(m.destination, ns).cluster, percent: m.percentage?.value ?? 100 }));
  if (r.headers) route.headers = { ...(r.headers.request ? { request: headerOps(r.headers.request) } : {}), ...(r.headers.response ? { response: headerOps(r.headers.response) } : {}) };
  if (r.corsPolicy) {
    const c = r.corsPolicy;
    route.cors = {
      allowOrigins: (c.allowOrigins ?? []).map(matcher),
      allowMethods: c.allowMethods ?? [],
      allowHeaders: c.allowHeaders ?? [],
      exposeHeaders: c.exposeHeaders ?? [],
      allowCredentials: c.allowCredentials === true,
      forwardUnmatchedPreflights: c.unmatchedPreflights !== 'IGNORE',
    };
    if (c.maxAge) route.cors.maxAgeSeconds = Math.floor(durationMs(c.maxAge, 'maxAge') / 1000);
  }
  return route;
}

export function compileMatch(m: HTTPMatchRequest): CompiledMatch {
  const out: CompiledMatch = {};
  if (m.uri) out.uri = matcher(m.uri);
  if (m.scheme) out.scheme = matcher(m.scheme);
  if (m.method) out.method = matcher(m.method);
  if (m.authority) out.authority = matcher(m.authority);
  if (m.headers) out.headers = mapMatchers(m.headers, true);
  if (m.withoutHeaders) out.withoutHeaders = mapMatchers(m.withoutHeaders, true);
  if (m.queryParams) out.queryParams = mapMatchers(m.queryParams, false);
  if (m.port) out.port = m.port;
  if (m.ignoreUriCase) out.ignoreUriCase = true;
  return out;
}

function matcher(s: StringMatch): StringMatcher {
  if (s.exact !== undefined) return { exact: s.exact };
  if (s.prefix !== undefined) return { prefix: s.prefix };
  return { regex: s.regex ?? '' };
}

function mapMatchers(m: Record<string, StringMatch>, lowerKeys: boolean): Record<string, StringMatcher> {
  return Object.fromEntries(Object.entries(m).map(([k, v]) => [lowerKeys ? k.toLowerCase() : k, matcher(v)]));
}

function headerOps(h: { set?: Record<string, string>; add?: Record<string, string>; remove?: string[] }): HeaderOps {
  const lower = (r?: Record<string, string>) => (r ? Object.fromEntries(Object.entries(r).map(([k, v]) => [k.toLowerCase(), v])) : undefined);
  const out: HeaderOps = {};
  if (h.set) out.set = lower(h.set);
  if (h.add) out.add = lower(h.add);
  if (h.remove) out.remove = h.remove.map((x) => x.toLowerCase());
  return out;
}

/** tcp routes, or (`kind: 'tls'`) tls routes, whose matches also name the TLS server names. */
export function compileTcpRoutes(vs: Resource<VirtualServiceSpec>, source: SourceWorkload, kind: 'tcp' | 'tls' = 'tcp'): CompiledTcpRoute[] {
  const out: CompiledTcpRoute[] = [];
  for (const t of (kind === 'tls' ? vs.spec.tls : vs.spec.tcp) ?? []) {
    // As for HTTP: matches scoped to other sources are dropped for this proxy.
    const matches = (t.match ?? []).filter((m) => selectorMatches({ matchLabels: m.sourceLabels }, source.labels) && gatewayMatches(m.gateways, vs.metadata.namespace, source));
    if (t.match && t.match.length > 0 && matches.length === 0) continue;
    out.push({
      match: matches.map((m) => {
        const sni = (m as { sniHosts?: string[] }).sniHosts;
        return { ...pickDefined(m, ['port', 'destinationSubnets']), ...(sni ? { sniHosts: sni.map((h) => h.toLowerCase()) } : {}) };
      }),
      destinations: t.route.map((d) => ({ ...destinationCluster(d.destination, vs.metadata.namespace), weight: t.route.length === 1 ? 100 : (d.weight ?? 0) })),
    });
  }
  return out;
}

function compileClusters(
  service: string,
  namespace: string,
  endpoints: Endpoint[],
  dr: DestinationRuleSpec | undefined,
  trustDomain: string,
  meshInternal: boolean,
  accounts: string[] = [service],
): Cluster[] {
  const san = meshInternal ? accounts.map((a) => spiffeId(trustDomain, namespace, a)) : [];
  const base = clusterPolicy(dr?.trafficPolicy, undefined, san, meshInternal);
  const clusters: Cluster[] = [withPorts({ name: clusterName(service, namespace), service, namespace, endpoints, ...base }, dr?.trafficPolicy, undefined, san, meshInternal)];
  for (const subset of dr?.subsets ?? []) {
    const selected = endpoints.filter((e) => selectorMatches({ matchLabels: subset.labels }, e.labels));
    const policy = clusterPolicy(dr?.trafficPolicy, subset.trafficPolicy, san, meshInternal);
    clusters.push(
      withPorts(
        { name: clusterName(service, namespace, subset.name), service, namespace, subset: subset.name, endpoints: selected, ...policy },
        dr?.trafficPolicy,
        subset.trafficPolicy,
        san,
        meshInternal,
      ),
    );
  }
  return clusters;
}

type FlatPolicy = Omit<TrafficPolicy, 'portLevelSettings'>;

/** Subset policy fields override the rule's top-level fields one by one, as in Istio. */
function clusterPolicy(top: FlatPolicy | undefined, subset: FlatPolicy | undefined, san: string[], meshInternal: boolean): ClusterPolicy {
  const lbSpec = subset?.loadBalancer ?? top?.loadBalancer;
  const poolSpec = subset?.connectionPool ?? top?.connectionPool;
  const odSpec = subset?.outlierDetection ?? top?.outlierDetection;
  const tlsSpec = subset?.tls ?? top?.tls;
  const policy: ClusterPolicy = {
    lb: { type: 'ROUND_ROBIN' },
    connectionPool: { ...DEFAULT_CONNECTION_POOL },
    tls: { mode: meshInternal ? 'AUTO' : 'DISABLE', subjectAltNames: san },
  };
  if (lbSpec?.consistentHash) {
    const h = lbSpec.consistentHash;
    policy.lb = { type: 'CONSISTENT_HASH' };
    if (h.httpHeaderName) policy.lb.header = h.httpHeaderName.toLowerCase();
    if (h.httpCookie)
      policy.lb.cookie = { name: h.httpCookie.name, ...(h.httpCookie.path ? { path: h.httpCookie.path } : {}), ...(h.httpCookie.ttl ? { ttlMs: durationMs(h.httpCookie.ttl, 'ttl') } : {}) };
    if (h.useSourceIp) policy.lb.sourceIp = true;
    if (h.httpQueryParameterName) policy.lb.queryParam = h.httpQueryParameterName;
  } else if (lbSpec?.simple && lbSpec.simple !== 'UNSPECIFIED') {
    policy.lb = { type: lbSpec.simple };
  }
  const tcp = poolSpec?.tcp;
  const http = poolSpec?.http;
  if (tcp?.maxConnections) policy.connectionPool.maxConnections = tcp.maxConnections;
  if (tcp?.connectTimeout) policy.connectionPool.connectTimeoutMs = durationMs(tcp.connectTimeout, 'connectTimeout');
  if (tcp?.tcpKeepalive) {
    const k = tcp.tcpKeepalive;
    policy.connectionPool.tcpKeepalive = {
      ...(k.time ? { timeS: durationMs(k.time, 'time') / 1000 } : {}),
      ...(k.interval ? { intervalS: durationMs(k.interval, 'interval') / 1000 } : {}),
      ...(k.probes ? { probes: k.probes } : {}),
    };
  }
  if (http?.http1MaxPendingRequests) policy.connectionPool.maxPendingRequests = http.http1MaxPendingRequests;
  if (http?.http2MaxRequests) policy.connectionPool.maxRequests = http.http2MaxRequests;
  if (http?.maxRequestsPerConnection !== undefined) policy.connectionPool.maxRequestsPerConnection = http.maxRequestsPerConnection;
  if (http?.maxRetries !== undefined) policy.connectionPool.maxRetries = http.maxRetries;
  if (http?.idleTimeout) policy.connectionPool.idleTimeoutMs = durationMs(http.idleTimeout, 'idleTimeout');
  if (odSpec) {
    policy.outlierDetection = {
      consecutive5xxErrors: odSpec.consecutive5xxErrors ?? DEFAULT_OUTLIER.consecutive5xxErrors,
      consecutiveGatewayErrors: odSpec.consecutiveGatewayErrors ?? DEFAULT_OUTLIER.consecutiveGatewayErrors,
      intervalMs: odSpec.interval ? durationMs(odSpec.interval, 'interval') : DEFAULT_OUTLIER.intervalMs,
      baseEjectionTimeMs: odSpec.baseEjectionTime ? durationMs(odSpec.baseEjectionTime, 'baseEjectionTime') : DEFAULT_OUTLIER.baseEjectionTimeMs,
      maxEjectionPercent: odSpec.maxEjectionPercent ?? DEFAULT_OUTLIER.maxEjectionPercent,
      minHealthPercent: odSpec.minHealthPercent ?? DEFAULT_OUTLIER.minHealthPercent,
    };
  }
  if (tlsSpec) {
    policy.tls = { mode: tlsSpec.mode, subjectAltNames: tlsSpec.subjectAltNames ?? (tlsSpec.mode === 'ISTIO_MUTUAL' ? san : []) };
    Object.assign(policy.tls, pickDefined(tlsSpec, ['sni', 'caCertificates', 'clientCertificate', 'privateKey', 'insecureSkipVerify']));
  }
  return policy;
}

function withPorts(cluster: Cluster, top: TrafficPolicy | undefined, subset: TrafficPolicy | undefined, san: string[], meshInternal: boolean): Cluster {
  const settings = new Map<number, FlatPolicy>();
  for (const s of top?.portLevelSettings ?? []) settings.set(s.port.number, s);
  // A subset's own port-level settings win over the rule's.
  for (const s of subset?.portLevelSettings ?? []) settings.set(s.port.number, { ...settings.get(s.port.number), ...s });
  if (settings.size === 0) return cluster;
  cluster.portPolicies = {};
  for (const [port, s] of settings) {
    const merged: FlatPolicy = {
      loadBalancer: s.loadBalancer ?? subset?.loadBalancer ?? top?.loadBalancer,
      connectionPool: s.connectionPool ?? subset?.connectionPool ?? top?.connectionPool,
      outlierDetection: s.outlierDetection ?? subset?.outlierDetection ?? top?.outlierDetection,
      tls: s.tls ?? subset?.tls ?? top?.tls,
    };
    cluster.portPolicies[String(port)] = clusterPolicy(merged, undefined, san, meshInternal);
  }
  return cluster;
}

/** A ServiceEntry's service of one of its hosts (`h`, lower case), with the DestinationRule and VirtualService of that host. */
function serviceEntryService(
  se: Resource<ServiceEntrySpec>,
  h: string,
  dr: DestinationRuleSpec | undefined,
  vs: Resource<VirtualServiceSpec> | undefined,
  source: SourceWorkload,
  trustDomain: string,
): OutboundService {
  const ns = se.metadata.namespace;
  const ports = se.spec.ports ?? [];
  const protocolOf = (p: string | undefined): InboundPort['protocol'] =>
    p === 'HTTP' ? 'http' : p === 'HTTP2' ? 'http2' : p === 'GRPC' ? 'grpc' : p === 'TCP' || p === 'TLS' || p === 'HTTPS' ? 'tcp' : 'auto';
  const internal = se.spec.location === 'MESH_INTERNAL';
  const endpoints: Endpoint[] = [];
  const sources = se.spec.endpoints && se.spec.endpoints.length > 0 ? se.spec.endpoints : se.spec.resolution === 'DNS' || se.spec.resolution === 'DNS_ROUND_ROBIN' ? [{ address: h }] : [];
  for (const e of sources) {
    for (const p of ports) {
      const port = ('ports' in e && e.ports && p.name ? e.ports[p.name] : undefined) ?? p.targetPort ?? p.number;
      endpoints.push({ address: e.address, port, labels: ('labels' in e && e.labels) || {}, weight: ('weight' in e && e.weight) || 1, ...(ports.length > 1 ? { servicePort: p.number } : {}) });
    }
  }
  return {
    name: h,
    namespace: ns,
    hosts: [h],
    external: !internal,
    ports: ports.map((p) => ({ port: p.number, protocol: protocolOf(p.protocol) })),
    httpRoutes: vs ? compileHttpRoutes(vs, source) : [defaultHttpRoute(h, ns)],
    tcpRoutes: vs?.spec.tcp ? compileTcpRoutes(vs, source) : [{ match: [], destinations: [{ cluster: clusterName(h, ns), weight: 100 }] }],
    clusters: compileClusters(h, ns, endpoints, dr, trustDomain, false).map((c) =>
      se.spec.subjectAltNames && c.tls.subjectAltNames.length === 0 ? { ...c, tls: { ...c.tls, subjectAltNames: se.spec.subjectAltNames } } : c,
    ),
  };
}

function pickDefined<T extends object, K extends keyof T>(o: T, keys: K[]): Pick<T, K> {
  const out = {} as Pick<T, K>;
  for (const k of keys) if (o[k] !== undefined) out[k] = o[k];
  return out;
}
