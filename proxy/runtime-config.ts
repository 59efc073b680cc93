// What a snapshot becomes inside the sidecar: lookup tables built once per snapshot, swapped
// atomically. A request reads the config it started with, so a swap never changes a request in
// flight; balancer state (active counts, ejections) carries over for endpoints that remain.
import { encodePeer, workloadMeta, type WorkloadMeta } from '../core/workload-meta.js';
import { meshDnsTable, type DnsAnswer } from '../core/dns/mesh-names.js';
import { ClusterBalancer } from '../core/routing/balancer.js';
import { hostOfAuthority, matchHolds, type RequestFacts } from '../core/routing/match.js';
import { TokenBucket, type TokenBucketConfig } from '../core/routing/token-bucket.js';
import type { AccessLogRule, Cluster, Endpoint, OutboundService, ProxySnapshot, RateLimitRoute } from '../core/snapshot/types.js';
import { parseFilter, type Expr } from '../core/access-log/filter.js';
import { GatewayHosts } from './gateway-hosts.js';

export interface ClusterEntry {
  cluster: Cluster;
  balancer: ClusterBalancer;
}

export class RuntimeConfig {
  readonly clusters = new Map<string, ClusterEntry>();
  /** Telemetry access logging per side, filters parsed once; a side without a rule logs everything. */
  readonly accessLogRules: { client?: CompiledAccessLogRule; server?: CompiledAccessLogRule };
  readonly byHost = new Map<string, OutboundService>();
  readonly byName = new Map<string, OutboundService>();
  /** `address:port` of every instance -> its service: captured connections dialled to an instance's address. */
  private readonly byEndpoint = new Map<string, OutboundService>();
  /**
   * Every host a snapshot of this sidecar has named as a mesh service. A service whose last
   * instance left drops out of the snapshot; calls to it must then fail (503 UH) rather than be
   * passed through ALLOW_ANY, in plaintext, to whatever the name still resolves to.
   */
  private readonly knownHosts: Set<string>;
  /** Inbound LocalRateLimit; buckets carry over a snapshot swap when their settings stay. */
  private readonly rateLimit: { bucket: TokenBucket; routes: { route: RateLimitRoute; bucket: TokenBucket }[] } | undefined;

  constructor(
    readonly snapshot: ProxySnapshot,
    previous?: RuntimeConfig,
  ) {
    const p = snapshot.proxy;
    this.me = workloadMeta(p.service, p.namespace, p.labels, p.trustDomain);
    this.peerHeader = encodePeer(this.me);
    const rl = snapshot.inbound.rateLimit;
    const keep = (prev: TokenBucket | undefined, c: TokenBucketConfig) => (prev?.sameAs(c) ? prev : new TokenBucket(c, performance.now()));
    this.rateLimit = rl && {
      bucket: keep(previous?.rateLimit?.bucket, rl),
      routes: (rl.routes ?? []).map((route) => ({ route, bucket: keep(previous?.rateLimit?.routes.find((r) => r.route.name === route.name)?.bucket, route) })),
    };
    for (const svc of snapshot.outbound.services) {
      this.byName.set(`${svc.namespace}/${svc.name}`, svc);
      // A bare name (an explicit upstream listener's) means the service in this proxy's namespace, as a short host name does.
      if (svc.namespace === snapshot.proxy.namespace || !this.byName.has(svc.name)) this.byName.set(svc.name, svc);
      for (const h of svc.hosts) if (!this.byHost.has(h)) this.byHost.set(h, svc);
      for (const c of svc.clusters) {
        if (this.clusters.has(c.name)) throw new Error(`cluster ${c.name} is defined twice`);
        for (const [name, cluster] of [[c.name, c] as const, ...portClusters(c)]) {
          const prev = previous?.clusters.get(name)?.balancer;
          if (prev) prev.update(cluster.lb, cluster.outlierDetection, cluster.endpoints);
          this.clusters.set(name, { cluster, balancer: prev ?? new ClusterBalancer(cluster.lb, cluster.outlierDetection, cluster.endpoints) });
        }
        for (const e of c.endpoints) if (!this.byEndpoint.has(`${e.address}:${e.port}`)) this.byEndpoint.set(`${e.address}:${e.port}`, svc);
      }
    }
    this.knownHosts = new Set([...(previous?.knownHosts ?? []), ...this.byHost.keys()]);
    const logs = snapshot.telemetry?.accessLog;
    this.accessLogRules = { client: logs?.client && accessLogRule(logs.client), server: logs?.server && accessLogRule(logs.server) };
    for (const l of snapshot.gateway?.listeners ?? []) this.gatewayHosts.set(l.port, new GatewayHosts(l.virtualHosts));
  }

  /**
   * The cluster a route's destination goes to: with a destination port, that port's own cluster
   * where there is one (DestinationRule portLevelSettings, or a ServiceEntry port's endpoints).
   */
  clusterFor(name: string, port?: number): ClusterEntry | undefined {
    return (port !== undefined ? this.clusters.get(portClusterName(name, port)) : undefined) ?? this.clusters.get(name);
  }

  /** A gateway's listeners: per port, the bound VirtualServices by host. */
  private readonly gatewayHosts = new Map<number, GatewayHosts>();

  /** The VirtualService a gateway listener serves `authority` with: exact host, else the longest wildcard, else "*". */
  gatewayHost(port: number, authority: string): OutboundService | undefined {
    return this.gatewayHosts.get(port)?.lookup(hostOfAuthority(authority));
  }

  /** A gateway's TCP port: the VirtualService bound to it. */
  gatewayTcp(port: number): OutboundService | undefined {
    return this.gatewayHosts.get(port)?.first();
  }

  /**
   * Takes a token for an inbound request: from the first route whose match holds, else from the
   * workload's bucket. Returns what limited it (`policy` or `policy routes[i]`), or undefined.
   */
  rateLimited(facts: RequestFacts, now: number): string | undefined {
    const rl = this.rateLimit;
    if (!rl) return undefined;
    const policy = this.snapshot.inbound.rateLimit!.policy;
    const route = rl.routes.find((r) => r.route.match.some((m) => matchHolds(m, facts)));
    if (route) return route.bucket.take(now) ? undefined : `${policy} ${route.route.name}`;
    return rl.bucket.take(now) ? undefined : policy;
  }

  private dns: Map<string, DnsAnswer> | undefined;
  private readonly endpointMeta = new WeakMap<Endpoint, WorkloadMeta>();
  /** This proxy's workload, as Istio's source_* / destination_* labels name it. */
  readonly me: WorkloadMeta;
  /** What this proxy sends mesh endpoints about itself (Istio's metadata exchange). */
  readonly peerHeader: string;

  /** The workload behind an endpoint of a cluster, from its catalog labels. */
  workloadOf(cluster: Cluster, e: Endpoint): WorkloadMeta {
    let m = this.endpointMeta.get(e);
    if (!m) this.endpointMeta.set(e, (m = workloadMeta(cluster.service, cluster.namespace, e.labels, this.snapshot.proxy.trustDomain)));
    return m;
  }

  /** The names the DNS proxy answers (built on first use: only sidecars with a DNS proxy need it). */
  dnsTable(): Map<string, DnsAnswer> {
    return (this.dns ??= meshDnsTable(this.snapshot.outbound.services));
  }

  /** The authority names a mesh service now or did in an earlier snapshot. */
  wasMeshHost(authority: string): boolean {
    return this.knownHosts.has(hostOfAuthority(authority));
  }

  serviceForAuthority(authority: string): OutboundService | undefined {
    return this.byHost.get(hostOfAuthority(authority));
  }

  /** The service one of whose instances listens at this address and port. */
  serviceForEndpoint(address: string, port: number): OutboundService | undefined {
    return this.byEndpoint.get(`${address}:${port}`);
  }
}

const portClusterName = (name: string, port: number) => `${name}:${port}`;

export interface CompiledAccessLogRule {
  enabled: boolean;
  filter?: Expr;
}

/** A filter the controller validated always parses; one that does not (a newer controller's) logs everything rather than nothing. */
function accessLogRule(rule: AccessLogRule): CompiledAccessLogRule {
  if (!rule.filter) return { enabled: rule.enabled };
  try {
    return { enabled: rule.enabled, filter: parseFilter(rule.filter) };
  } catch {
    return { enabled: rule.enabled };
  }
}

/**
 * A cluster's per-port variants, as Envoy has a cluster per port: where a DestinationRule gives
 * a port its own policy (portLevelSettings: TLS, pool, balancing), and where a ServiceEntry's
 * endpoints serve several ports (each port reaches its own endpoints).
 */
function portClusters(c: Cluster): [string, Cluster][] {
  const ports = new Set<number>([...Object.keys(c.portPolicies ?? {}).map(Number), ...c.endpoints.flatMap((e) => (e.servicePort !== undefined ? [e.servicePort] : []))]);
  return [...ports].map((port) => {
    const policy = c.portPolicies?.[String(port)];
    const endpoints = c.endpoints.filter((e) => e.servicePort === undefined || e.servicePort === port);
    return [portClusterName(c.name, port), { ...c, ...(policy ?? {}), name: c.name, endpoints, portPolicies: undefined }];
  });
}
