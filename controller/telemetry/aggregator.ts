// Holds the proxies' reports for a sliding window and serves the mesh-wide view per service
// and per edge (source -> destination).
import { summarise, LATENCY_BUCKETS_MS, type EdgeReport, type TelemetryReport, type TrafficSummary } from '../../core/telemetry.js';
import type { EdgeTraffic } from '../../core/mesh-graph.js';
import { MeshError, validationFailed, type Violation } from '../../core/errors.js';
import { isPlainObject } from '../../core/resources/schema.js';

interface Received {
  at: number;
  report: TelemetryReport;
  /** The workload identity that sent it (namespace/service account); absent for the admin token. */
  from?: string;
}

/**
 * Edges one workload identity may have in the window at once. Reports are kept whole for the
 * window; without a quota a workload sending them fast made the controller hold rate x size x
 * window. A thousand replicas of one service account reporting ten edges every 10 s hold 60,000 in
 * a minute's window. A refused report is not lost: the sidecar keeps its counts and sends them,
 * merged, with its next report.
 */
export const MAX_EDGES_PER_IDENTITY = 100_000;

export class TelemetryAggregator {
  private received: Received[] = [];
  /** Edges in the window per workload identity (Received.from). */
  private readonly heldBy = new Map<string, number>();

  /** `peers`: reports other controllers received (shared-telemetry.ts), merged into the view. */
  constructor(
    private readonly windowMs: number,
    private readonly peers: (now: number) => EdgeReport[] = () => [],
  ) {}

  /** This controller's own window, one report per edge: what it shares with the others. */
  window(now = Date.now()): EdgeReport[] {
    return [...this.grouped(now, (e) => `${e.source} ${e.destination}`, false).values()].map((list) => {
      const merged: EdgeReport = {
        source: list[0].source,
        destination: list[0].destination,
        requests: 0,
        errors: 0,
        mtls: 0,
        latencyBuckets: new Array<number>(LATENCY_BUCKETS_MS.length + 1).fill(0),
      };
      for (const e of list) {
        merged.requests += e.requests;
        merged.errors += e.errors;
        merged.mtls! += e.mtls ?? 0;
        e.latencyBuckets.forEach((n, i) => (merged.latencyBuckets[i] += n));
      }
      return merged;
    });
  }

  /**
   * A proxy's report. `from`: the identity the reporting workload's certificate proves. Its
   * edges must start in `from.namespace` (a proxy reports its own outbound traffic), so that no
   * workload can put traffic of another namespace's services into the mesh's view, and they count
   * against the identity's quota of edges in the window (MAX_EDGES_PER_IDENTITY). Absent: the
   * admin token.
   */
  accept(input: unknown, now = Date.now(), from?: { namespace: string; serviceAccount: string }): void {
    const report = validateReport(input);
    this.prune(now);
    let identity: string | undefined;
    if (from !== undefined) {
      const { namespace } = from;
      const foreign = report.edges.findIndex((e) => !e.source.startsWith(`${namespace}/`));
      if (foreign >= 0) {
        throw new MeshError(
          'PERMISSION_DENIED',
          `edges[${foreign}].source: "${report.edges[foreign].source}" is not of namespace ${namespace}; a workload reports the traffic of its own namespace only`,
        );
      }
      identity = `${namespace}/${from.serviceAccount}`;
      const held = this.heldBy.get(identity) ?? 0;
      if (held + report.edges.length > MAX_EDGES_PER_IDENTITY) {
        throw new MeshError(
          'RESOURCE_EXHAUSTED',
          `${identity} has ${held} edges in the last ${this.windowMs / 1000} s of telemetry and may have at most ${MAX_EDGES_PER_IDENTITY}; send the counts again later, merged`,
        );
      }
      this.heldBy.set(identity, held + report.edges.length);
    }
    this.received.push({ at: now, report, from: identity });
  }

  edges(now = Date.now()): EdgeTraffic[] {
    return [...this.grouped(now, (e) => `${e.source} ${e.destination}`)].map(([key, list]) => {
      const [source, destination] = key.split(' ');
      const summary = summarise(list, this.windowMs);
      const mtls = list.reduce((n, e) => n + (e.mtls ?? 0), 0);
      return { source, destination, ...summary, mtlsShare: summary.requests > 0 ? mtls / summary.requests : null };
    });
  }

  services(now = Date.now()): (TrafficSummary & { service: string })[] {
    return [...this.grouped(now, (e) => e.destination)].map(([service, list]) => ({ service, ...summarise(list, this.windowMs) }));
  }

  private grouped(now: number, keyOf: (e: EdgeReport) => string, withPeers = true): Map<string, EdgeReport[]> {
    this.prune(now);
    const groups = new Map<string, EdgeReport[]>();
    const add = (e: EdgeReport) => {
      const key = keyOf(e);
      const list = groups.get(key);
      if (list) list.push(e);
      else groups.set(key, [e]);
    };
    for (const { report } of this.received) for (const e of report.edges) add(e);
    if (withPeers) for (const e of this.peers(now)) add(e);
    return groups;
  }

  private prune(now: number): void {
    const cutoff = now - this.windowMs;
    if (this.received.length === 0 || this.received[0].at >= cutoff) return;
    const kept: Received[] = [];
    for (const r of this.received) {
      if (r.at >= cutoff) kept.push(r);
      else if (r.from !== undefined) {
        const left = (this.heldBy.get(r.from) ?? 0) - r.report.edges.length;
        if (left > 0) this.heldBy.set(r.from, left);
        else this.heldBy.delete(r.from);
      }
    }
    this.received = kept;
  }
}

export function validateReport(input: unknown): TelemetryReport {
  const out: Violation[] = [];
  if (!isPlainObject(input)) throw new MeshError('INVALID_ARGUMENT', 'a telemetry report must be a JSON object');
  if (typeof input.proxy !== 'string' || !input.proxy) out.push({ path: 'proxy', message: 'is required' });
  if (!count(input.intervalMs) || input.intervalMs === 0) out.push({ path: 'intervalMs', message: 'must be a positive finite number' });
  if (!Array.isArray(input.edges)) out.push({ path: 'edges', message: 'must be a list' });
  else
    input.edges.forEach((e, i) => {
      const p = `edges[${i}]`;
      if (!isPlainObject(e)) return void out.push({ path: p, message: 'must be an object' });
      for (const f of ['source', 'destination'])
        if (typeof e[f] !== 'string' || !/^[^\s]+$/.test(e[f] as string)) out.push({ path: `${p}.${f}`, message: 'must be `namespace/service` or `unknown`, without spaces' });
      // Finite: JSON reads 1e999 as Infinity, which would stay in every sum of the window.
      if (e.mtls !== undefined && !count(e.mtls)) out.push({ path: `${p}.mtls`, message: 'must be a non-negative finite number' });
      for (const f of ['requests', 'errors']) if (!count(e[f])) out.push({ path: `${p}.${f}`, message: 'must be a non-negative finite number' });
      if (!Array.isArray(e.latencyBuckets) || e.latencyBuckets.length !== LATENCY_BUCKETS_MS.length + 1 || !e.latencyBuckets.every(count)) {
        out.push({ path: `${p}.latencyBuckets`, message: `must be ${LATENCY_BUCKETS_MS.length + 1} non-negative finite counts (buckets ${LATENCY_BUCKETS_MS.join(', ')} ms and above)` });
      }
    });
  if (out.length > 0) throw validationFailed('telemetry report', out);
  return input as unknown as TelemetryReport;
}

function count(n: unknown): boolean {
  return typeof n === 'number' && Number.isFinite(n) && n >= 0;
}
