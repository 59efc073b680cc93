// Telemetry reports from proxies and the mesh-wide view computed from them. Latencies travel as
// counts in fixed buckets (Istio's request-duration buckets) so that reports merge exactly.

/** Upper bounds in milliseconds; the last bucket is everything above. */
export const LATENCY_BUCKETS_MS = [0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000];

export interface EdgeReport {
  /** `namespace/service` of the caller, or `unknown`. */
  source: string;
  /** `namespace/service` of the callee. */
  destination: string;
  requests: number;
  /** Responses with status 5xx (and gRPC errors), counted in `requests` too. */
  errors: number;
  /** Requests carried over the mesh's mTLS (counted in `requests` too); absent from older proxies. */
  mtls?: number;
  /** Counts per LATENCY_BUCKETS_MS bucket, plus one overflow bucket: length LATENCY_BUCKETS_MS.length + 1. */
  latencyBuckets: number[];
}

export interface TelemetryReport {
  proxy: string;
  /** The window the counts cover. */
  intervalMs: number;
  edges: EdgeReport[];
}

export interface TrafficSummary {
  requests: number;
  requestsPerSecond: number;
  errorRate: number;
  p50Ms: number | null;
  p99Ms: number | null;
}

export function emptyBuckets(): number[] {
  return new Array(LATENCY_BUCKETS_MS.length + 1).fill(0);
}

export function bucketIndex(ms: number): number {
  const i = LATENCY_BUCKETS_MS.findIndex((b) => ms <= b);
  return i === -1 ? LATENCY_BUCKETS_MS.length : i;
}

/** Quantile from bucket counts by linear interpolation inside the bucket, as Prometheus does. */
export function quantile(buckets: number[], q: number): number | null {
  const total = buckets.reduce((a, b) => a + b, 0);
  if (total === 0) return null;
  const rank = q * total;
  let seen = 0;
  for (let i = 0; i < buckets.length; i++) {
    if (seen + buckets[i] >= rank && buckets[i] > 0) {
      const lower = i === 0 ? 0 : LATENCY_BUCKETS_MS[i - 1];
      const upper = i < LATENCY_BUCKETS_MS.length ? LATENCY_BUCKETS_MS[i] : lower;
      return lower + (upper - lower) * ((rank - seen) / buckets[i]);
    }
    seen += buckets[i];
  }
  return LATENCY_BUCKETS_MS[LATENCY_BUCKETS_MS.length - 1];
}

export function summarise(edges: EdgeReport[], windowMs: number): TrafficSummary {
  const buckets = emptyBuckets();
  let requests = 0;
  let errors = 0;
  for (const e of edges) {
    requests += e.requests;
    errors += e.errors;
    e.latencyBuckets.forEach((c, i) => (buckets[i] += c));
  }
  return {
    requests,
    requestsPerSecond: windowMs > 0 ? requests / (windowMs / 1000) : 0,
    errorRate: requests > 0 ? errors / requests : 0,
    p50Ms: quantile(buckets, 0.5),
    p99Ms: quantile(buckets, 0.99),
  };
}
