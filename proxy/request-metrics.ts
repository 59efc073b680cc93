// Istio's four request metrics, kept per label set in plain counters and handed to the
// prom-client registry only when it is scraped. prom-client's own observe() checks and hashes
// the twelve labels again for every metric of every request, which cost about 15% of a
// sidecar's CPU under load (bench/data-path.ts with --cpu-prof); here a request costs one key.
import type { Registry } from 'prom-client';

interface Histogram {
  buckets: number[];
  sum: number;
}

interface Series {
  labels: Record<string, string>;
  count: number;
  duration: Histogram;
  requestBytes: Histogram;
  responseBytes: Histogram;
}

interface Sample {
  labels: Record<string, string | number>;
  value: number;
  metricName?: string;
}

type Part = 'duration' | 'requestBytes' | 'responseBytes';

export class RequestMetrics {
  private readonly series = new Map<string, Series>();

  constructor(
    registry: Registry,
    /** The label names, in the order that makes a series' key. */
    private readonly labelNames: readonly string[],
    names: { requests: string; duration: string; requestBytes: string; responseBytes: string },
    private readonly bounds: { duration: number[]; size: number[] },
    help: { requests: string; duration: string; requestBytes: string; responseBytes: string },
  ) {
    // The registry reads any object with a name, a type and get() (prom-client's metric shape).
    const metric = (name: string, type: 'counter' | 'histogram', text: string, values: () => Sample[]) => ({ name, type, help: text, get: () => ({ name, help: text, type, values: values(), aggregator: 'sum' }) });
    for (const m of [
      metric(names.requests, 'counter', help.requests, () => [...this.series.values()].map((s) => ({ labels: s.labels, value: s.count }))),
      metric(names.duration, 'histogram', help.duration, () => this.histogramSamples('duration', names.duration, bounds.duration)),
      metric(names.requestBytes, 'histogram', help.requestBytes, () => this.histogramSamples('requestBytes', names.requestBytes, bounds.size)),
      metric(names.responseBytes, 'histogram', help.responseBytes, () => this.histogramSamples('responseBytes', names.responseBytes, bounds.size)),
    ])
      registry.registerMetric(m as unknown as Parameters<Registry['registerMetric']>[0]);
  }

  record(labels: Record<string, string>, ms: number, reqBytes: number, resBytes: number): void {
    let key = '';
    for (const k of this.labelNames) key += `${labels[k]}\u0001`;
    let s = this.series.get(key);
    if (!s) {
      const empty = (n: number): Histogram => ({ buckets: new Array<number>(n).fill(0), sum: 0 });
      s = { labels: { ...labels }, count: 0, duration: empty(this.bounds.duration.length), requestBytes: empty(this.bounds.size.length), responseBytes: empty(this.bounds.size.length) };
      this.series.set(key, s);
    }
    s.count++;
    observe(s.duration, this.bounds.duration, ms);
    observe(s.requestBytes, this.bounds.size, reqBytes);
    observe(s.responseBytes, this.bounds.size, resBytes);
  }

  /** Cumulative buckets, +Inf, sum and count, as Prometheus histograms are exposed. */
  private histogramSamples(part: Part, name: string, bounds: number[]): Sample[] {
    const out: Sample[] = [];
    for (const s of this.series.values()) {
      const h = s[part];
      let acc = 0;
      bounds.forEach((le, i) => {
        acc += h.buckets[i];
        out.push({ labels: { ...s.labels, le }, value: acc, metricName: `${name}_bucket` });
      });
      out.push({ labels: { ...s.labels, le: '+Inf' }, value: s.count, metricName: `${name}_bucket` });
      out.push({ labels: s.labels, value: h.sum, metricName: `${name}_sum` });
      out.push({ labels: s.labels, value: s.count, metricName: `${name}_count` });
    }
    return out;
  }
}

function observe(h: Histogram, bounds: number[], value: number): void {
  h.sum += value;
  for (let i = 0; i < bounds.length; i++) {
    if (value <= bounds[i]) {
      h.buckets[i]++;
      return;
    }
  }
}
