// Per-cluster endpoint choice: round robin, least request (power of two choices), random, or
// consistent hash (rendezvous hashing, so removing an endpoint moves only its own keys), with
// outlier detection ejecting endpoints after consecutive errors. Stateful but free of I/O: time
// and randomness come in as arguments.
import type { Cluster, ConnectionPool, Endpoint, LbPolicy, OutlierDetection } from '../snapshot/types.js';

interface EndpointState {
  endpoint: Endpoint;
  active: number;
  consecutive5xx: number;
  consecutiveGateway: number;
  ejections: number;
  ejectedUntil: number;
}

export interface PickContext {
  now: number;
  /** Uniform in [0, 1). */
  random: () => number;
  /** For consistent hashing: the header/cookie/source IP/query value named by the policy. */
  hashKey?: string;
}

export function endpointKey(e: Endpoint): string {
  return `${e.address}:${e.sidecarPort ?? e.port}`;
}

function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

export class ClusterBalancer {
  private states: EndpointState[] = [];
  private rr = 0;
  ejectionsTotal = 0;
  /** Requests in flight to this cluster, for connection-pool limits. */
  inFlight = 0;

  constructor(
    private lb: LbPolicy,
    private outlier: OutlierDetection | undefined,
    endpoints: Endpoint[],
  ) {
    this.update(lb, outlier, endpoints);
  }

  /** A new snapshot: keep the state (active counts, ejections) of endpoints that remain. */
  update(lb: LbPolicy, outlier: OutlierDetection | undefined, endpoints: Endpoint[]): void {
    this.lb = lb;
    this.outlier = outlier;
    const old = new Map(this.states.map((s) => [endpointKey(s.endpoint), s]));
    this.states = endpoints.map((endpoint) => {
      const prev = old.get(endpointKey(endpoint));
      return prev ? { ...prev, endpoint } : { endpoint, active: 0, consecutive5xx: 0, consecutiveGateway: 0, ejections: 0, ejectedUntil: 0 };
    });
  }

  get size(): number {
    return this.states.length;
  }

  /** An endpoint to use, or undefined when none is healthy. `exclude` skips endpoints a retry already tried. */
  pick(ctx: PickContext, exclude?: Set<string>): Endpoint | undefined {
    // Almost always nothing is ejected: then no list is made for the request.
    const all = this.states.some((s) => s.ejectedUntil > ctx.now) ? this.states.filter((s) => s.ejectedUntil <= ctx.now) : this.states;
    // Never eject everything: with every endpoint ejected, use them all (Envoy's panic mode).
    const healthy = all.length > 0 ? all : this.states;
    let candidates = exclude && exclude.size > 0 ? healthy.filter((s) => !exclude.has(endpointKey(s.endpoint))) : healthy;
    if (candidates.length === 0) candidates = healthy;
    if (candidates.length === 0) return undefined;
    const lb = this.lb;
    switch (lb.type) {
      case 'RANDOM':
        return candidates[Math.floor(ctx.random() * candidates.length)].endpoint;
      case 'LEAST_REQUEST': {
        const a = candidates[Math.floor(ctx.random() * candidates.length)];
        const b = candidates[Math.floor(ctx.random() * candidates.length)];
        return (a.active <= b.active ? a : b).endpoint;
      }
      case 'CONSISTENT_HASH': {
        if (ctx.hashKey === undefined) return candidates[Math.floor(ctx.random() * candidates.length)].endpoint;
        let best = candidates[0];
        let bestScore = -1;
        for (const s of candidates) {
          const score = fnv1a(`${ctx.hashKey}|${endpointKey(s.endpoint)}`);
          if (score > bestScore) [best, bestScore] = [s, score];
        }
        return best.endpoint;
      }
      default:
        return candidates[this.rr++ % candidates.length].endpoint;
    }
  }

  /**
   * Connection-pool admission, as Envoy's circuit breakers: at most maxRequests in flight, and at
   * most maxPendingRequests beyond what maxConnections can carry. False means overflow (503 UO).
   */
  admit(pool: ConnectionPool): boolean {
    return this.inFlight < pool.maxRequests && this.inFlight < pool.maxConnections + pool.maxPendingRequests;
  }

  started(e: Endpoint): void {
    this.inFlight++;
    const s = this.find(e);
    if (s) s.active++;
  }

  /**
   * A request finished. `status` is the upstream's HTTP status, or 0 for a connect failure or
   * reset (a gateway error). Returns true when this result ejected the endpoint.
   */
  finished(e: Endpoint, status: number, now: number): boolean {
    this.inFlight = Math.max(0, this.inFlight - 1);
    const s = this.find(e);
    if (!s) return false;
    s.active = Math.max(0, s.active - 1);
    const gateway = status === 0 || status === 502 || status === 503 || status === 504;
    if (status >= 500 || status === 0) s.consecutive5xx++;
    else s.consecutive5xx = 0;
    if (gateway) s.consecutiveGateway++;
    else s.consecutiveGateway = 0;
    const od = this.outlier;
    if (!od) return false;
    const tripped = (od.consecutive5xxErrors > 0 && s.consecutive5xx >= od.consecutive5xxErrors) || (od.consecutiveGatewayErrors > 0 && s.consecutiveGateway >= od.consecutiveGatewayErrors);
    if (!tripped || s.ejectedUntil > now) return false;
    // As Envoy: at most maxEjectionPercent of the endpoints, but at least one when it is above 0.
    const allowed = od.maxEjectionPercent > 0 ? Math.max(1, Math.floor((this.states.length * od.maxEjectionPercent) / 100)) : 0;
    if (this.ejectedCount(now) >= allowed) return false;
    s.ejections++;
    s.ejectedUntil = now + od.baseEjectionTimeMs * s.ejections;
    s.consecutive5xx = 0;
    s.consecutiveGateway = 0;
    this.ejectionsTotal++;
    return true;
  }

  /** Each endpoint, and whether outlier detection keeps it out now (the proxy's endpoint view). */
  endpointHealth(now: number): { endpoint: Endpoint; ejected: boolean }[] {
    return this.states.map((s) => ({ endpoint: s.endpoint, ejected: s.ejectedUntil > now }));
  }

  ejectedCount(now: number): number {
    return this.states.filter((s) => s.ejectedUntil > now).length;
  }

  /**
   * The state of an endpoint: the snapshot's own object (pick returned it), found without making a
   * key per endpoint for every request; else, for one of an older snapshot (a request that started
   * before an update), by address and port.
   */
  private find(e: Endpoint): EndpointState | undefined {
    for (const s of this.states) if (s.endpoint === e) return s;
    const key = endpointKey(e);
    return this.states.find((s) => endpointKey(s.endpoint) === key);
  }
}

export function balancerFor(c: Cluster): ClusterBalancer {
  return new ClusterBalancer(c.lb, c.outlierDetection, c.endpoints);
}
