// Istio's four request metrics, kept per label set in plain counters and written out only
// when scraped. prom-client's observe() checked and hashed the twelve labels again for every
// metric of every request, which cost about 15% of a sidecar's CPU under load
// (bench/data-path.ts with --cpu-prof); here a request costs one key.
import { sampleLine, type MetricFamily } from './exposition.js';

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

type Part = 'duration' | 'requestBytes' | 'responseBytes';

export class RequestMetrics implements MetricFamily {
  private readonly series = new Map<string, Series>();

  constructor(
    /** The label names, in the order that makes a series' key. */
    private readonly labelNames: readonly string[],
    private readonly names: { requests: string; duration: string; requestBytes: string; responseBytes: string },
    private readonly bounds: { duration: number[]; size: number[] },
    private readonly help: { requests: string; duration: string; requestBytes: string; responseBytes: string },
  ) {}

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

  text(): string {
    const { names, help } = this;
    let out = `# HELP ${names.requests} ${help.requests}\n# TYPE ${names.requests} counter\n`;
    for (const s of this.series.values()) out += sampleLine(names.requests, s.labels, s.count);
    out += this.histogram('duration', names.duration, help.duration, this.bounds.duration);
    out += this.histogram('requestBytes', names.requestBytes, help.requestBytes, this.bounds.size);
    out += this.histogram('responseBytes', names.responseBytes, help.responseBytes, this.bounds.size);
    return out;
  }

  /** Cumulative buckets, +Inf, sum and count, as Prometheus histograms are exposed. */
  private histogram(part: Part, name: string, text: string, bounds: number[]): string {
    let out = `# HELP ${name} ${text}\n# TYPE ${name} histogram\n`;
    for (const s of this.series.values()) {
      const h = s[part];
      let acc = 0;
      for (let i = 0; i < bounds.length; i++) {
        acc += h.buckets[i];
        out += sampleLine(`${name}_bucket`, { ...s.labels, le: bounds[i] }, acc);
      }
      out += sampleLine(`${name}_bucket`, { ...s.labels, le: '+Inf' }, s.count);
      out += sampleLine(`${name}_sum`, s.labels, h.sum);
      out += sampleLine(`${name}_count`, s.labels, s.count);
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
