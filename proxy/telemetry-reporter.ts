// Periodic summaries to the controller, which serves the mesh-wide view per service and edge.
// Counts per destination accumulate here and are sent every interval; a failed send keeps them
// for the next one, so a controller outage loses no counts (up to a bound).
import { bucketIndex, emptyBuckets, type EdgeReport, type TelemetryReport } from '../core/telemetry.js';
import type { ControllerClient } from './controller-client.js';

const MAX_EDGES = 10_000;

export class TelemetryReporter {
  private edges = new Map<string, EdgeReport>();
  private timer: NodeJS.Timeout | undefined;
  private since = Date.now();
  private sending = false;

  constructor(
    private readonly client: ControllerClient,
    private readonly proxyId: string,
    private readonly source: string,
    private readonly intervalMs: number,
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.flush(), this.intervalMs);
    this.timer.unref();
  }

  /** One finished request from this proxy to `destination` (`namespace/service`), over the mesh's mTLS or not. */
  record(destination: string, status: number, ms: number, mtls: boolean): void {
    let e = this.edges.get(destination);
    if (!e) {
      if (this.edges.size >= MAX_EDGES) return;
      e = { source: this.source, destination, requests: 0, errors: 0, mtls: 0, latencyBuckets: emptyBuckets() };
      this.edges.set(destination, e);
    }
    e.requests++;
    if (mtls) e.mtls = (e.mtls ?? 0) + 1;
    if (status >= 500 || status === 0) e.errors++;
    e.latencyBuckets[bucketIndex(ms)]++;
  }

  async flush(): Promise<void> {
    if (this.sending || this.edges.size === 0) return;
    this.sending = true;
    const edges = this.edges;
    const report: TelemetryReport = { proxy: this.proxyId, intervalMs: Math.max(1, Date.now() - this.since), edges: [...edges.values()] };
    this.edges = new Map();
    try {
      await this.client.request('POST', '/v1/telemetry', report);
      this.since = Date.now();
    } catch {
      // Keep the counts for the next attempt.
      for (const e of edges.values()) {
        const cur = this.edges.get(e.destination);
        if (!cur) this.edges.set(e.destination, e);
        else {
          cur.requests += e.requests;
          cur.errors += e.errors;
          cur.mtls = (cur.mtls ?? 0) + (e.mtls ?? 0);
          e.latencyBuckets.forEach((n, i) => (cur.latencyBuckets[i] += n));
        }
      }
    } finally {
      this.sending = false;
    }
  }

  close(): void {
    clearInterval(this.timer);
  }
}
