// What a snapshot becomes inside the sidecar: lookup tables built once per snapshot, swapped
// atomically. A request reads the config it started with, so a swap never changes a request in
// flight; balancer state (active counts, ejections) carries over for endpoints that remain.
import { ClusterBalancer } from '../core/routing/balancer.js';
import { hostOfAuthority } from '../core/routing/match.js';
import { TokenBucket } from '../core/routing/token-bucket.js';
import type { Cluster, OutboundService, ProxySnapshot } from '../core/snapshot/types.js';

export interface ClusterEntry {
  cluster: Cluster;
  balancer: ClusterBalancer;
}

export class RuntimeConfig {
  readonly clusters = new Map<string, ClusterEntry>();
  readonly byHost = new Map<string, OutboundService>();
  readonly byName = new Map<string, OutboundService>();
  /** Inbound LocalRateLimit; the bucket carries over a snapshot swap when its settings stay. */
  readonly rateLimit: TokenBucket | undefined;

  constructor(
    readonly snapshot: ProxySnapshot,
    previous?: RuntimeConfig,
  ) {
    const rl = snapshot.inbound.rateLimit;
    const prevBucket = previous?.rateLimit;
    this.rateLimit = rl ? (prevBucket?.sameAs(rl) ? prevBucket : new TokenBucket(rl, performance.now())) : undefined;
    for (const svc of snapshot.outbound.services) {
      this.byName.set(`${svc.namespace}/${svc.name}`, svc);
      if (!this.byName.has(svc.name)) this.byName.set(svc.name, svc);
      for (const h of svc.hosts) if (!this.byHost.has(h)) this.byHost.set(h, svc);
      for (const c of svc.clusters) {
        if (this.clusters.has(c.name)) throw new Error(`cluster ${c.name} is defined twice`);
        const prev = previous?.clusters.get(c.name)?.balancer;
        if (prev) prev.update(c.lb, c.outlierDetection, c.endpoints);
        this.clusters.set(c.name, { cluster: c, balancer: prev ?? new ClusterBalancer(c.lb, c.outlierDetection, c.endpoints) });
      }
    }
  }

  serviceForAuthority(authority: string): OutboundService | undefined {
    return this.byHost.get(hostOfAuthority(authority));
  }
}
