// Prometheus text exposition for the sidecar: labelled counters and gauges, and Istio's
// request histograms (request-metrics.ts). The sidecar used prom-client; it checked and hashed
// labels on every update and brought @opentelemetry/api along (about 14 MB of memory, 87
// modules), which mattered for a process that runs beside every workload. The controller,
// one per mesh, keeps prom-client.

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

/** A counter or gauge with labels; series appear once first touched. */
export class Metric<L extends string = string> implements MetricFamily {
  private readonly series = new Map<string, { labels: Labels; value: number }>();

  constructor(
    readonly name: string,
    private readonly help: string,
    private readonly type: 'counter' | 'gauge',
    private readonly labelNames: readonly L[] = [],
  ) {}

  inc(labels: Partial<Record<L, string>> = {}, by = 1): void {
    this.entry(labels).value += by;
  }

  dec(labels: Partial<Record<L, string>> = {}, by = 1): void {
    this.entry(labels).value -= by;
  }

  set(labels: Partial<Record<L, string>>, value: number): void {
    this.entry(labels).value = value;
  }

  reset(): void {
    this.series.clear();
  }

  text(): string {
    let out = `# HELP ${this.name} ${this.help}\n# TYPE ${this.name} ${this.type}\n`;
    for (const s of this.series.values()) out += sampleLine(this.name, s.labels, s.value);
    return out;
  }

  private entry(labels: Partial<Record<L, string>>): { labels: Labels; value: number } {
    let key = '';
    for (const k of this.labelNames) key += `${labels[k] ?? ''}\u0001`;
    let e = this.series.get(key);
    if (!e) {
      const own: Labels = {};
      for (const k of this.labelNames) own[k] = labels[k] ?? '';
      e = { labels: own, value: 0 };
      this.series.set(key, e);
    }
    return e;
  }
}
