// Prometheus text exposition for the sidecar: labelled counters and gauges, and Istio's
// request histograms (request-metrics.ts). The sidecar used prom-client; it checked and hashed
// labels on every update and brought @opentelemetry/api along (about 14 MB of memory, 87
// modules), which mattered for a process that runs beside every workload. The controller,
// one per mesh, keeps prom-client.

import { SeriesIndex } from './series-index.js';

export interface MetricFamily {
  text(): string;
}

type Labels = Record<string, string | number>;

export function escapeLabel(v: string | number): string {
  return String(v).replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

export function sampleLine(name: string, labels: Labels, value: number): string {
  const pairs = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`);
  return `${name}${pairs.length > 0 ? `{${pairs.join(',')}}` : ''} ${Number.isFinite(value) ? value : value > 0 ? '+Inf' : value < 0 ? '-Inf' : 'NaN'}\n`;
}

/** One series of a counter or gauge: its labels and its value, which a caller may hold and add to. */
export interface Series {
  readonly labels: Readonly<Labels>;
  value: number;
}

/** A counter or gauge with labels; series appear once first touched. */
export class Metric<L extends string = string> implements MetricFamily {
  private readonly series: SeriesIndex<Series>;

  constructor(
    readonly name: string,
    private readonly help: string,
    private readonly type: 'counter' | 'gauge',
    labelNames: readonly L[] = [],
  ) {
    this.series = new SeriesIndex<Series>(labelNames, (labels) => ({ labels, value: 0 }));
  }

  inc(labels: Partial<Record<L, string>> = {}, by = 1): void {
    this.series.get(labels).value += by;
  }

  dec(labels: Partial<Record<L, string>> = {}, by = 1): void {
    this.series.get(labels).value -= by;
  }

  set(labels: Partial<Record<L, string>>, value: number): void {
    this.series.get(labels).value = value;
  }

  /**
   * The series of these labels, to add to directly: for a counter updated many times under the
   * same labels (a TCP connection's bytes, chunk by chunk). Not valid across `reset()`.
   */
  of(labels: Partial<Record<L, string>>): Series {
    return this.series.get(labels);
  }

  reset(): void {
    this.series.clear();
  }

  text(): string {
    let out = `# HELP ${this.name} ${this.help}\n# TYPE ${this.name} ${this.type}\n`;
    for (const s of this.series.values()) out += sampleLine(this.name, s.labels, s.value);
    return out;
  }
}
