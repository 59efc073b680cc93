// Spans for sampled requests, exported in batches to an OpenTelemetry collector over OTLP/HTTP
// JSON. Off unless an endpoint is given; then an unsampled request costs one header parse. The
// queue is bounded: when the collector is slow or away, the oldest spans are dropped (counted),
// never the traffic. start / drain (flush) / close.
import type { TracingRule } from '../core/snapshot/types.js';
import { randomBytes } from 'node:crypto';
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import type { Logger } from 'pino';
import { b3Headers, formatTraceparent, otlpTraceRequest, parseB3, parseTraceparent, type FinishedSpan } from '../core/tracing.js';

export interface TracerOptions {
  /** The collector's traces URL, e.g. http://otel-collector:4318/v1/traces. */
  endpoint: string;
  /** Percent of new traces to sample (a caller's sampled flag is always honoured). */
  samplingPercent: number;
  /** The workload's Telemetry tracing rules, per side (from its snapshot); they override samplingPercent. */
  policy?: () => { client?: TracingRule; server?: TracingRule } | undefined;
  resource: Record<string, string>;
  flushMs?: number;
  maxQueue?: number;
}

export interface ActiveSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  kind: 'server' | 'client';
  name: string;
  startMs: number;
  startPerf: number;
}

export class Tracer {
  private queue: FinishedSpan[] = [];
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;
  /** Spans lost to a full queue or a failed export; reported with the export warning. */
  private dropped = 0;
  private warned = false;

  constructor(
    private readonly opts: TracerOptions,
    private readonly log: Logger,
    private readonly random: () => number = Math.random,
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.flush(), this.opts.flushMs ?? 1000);
    this.timer.unref();
  }

  /**
   * Starts a span under the context in `incoming` (or a new trace, sampled at the configured
   * rate) and writes the context the next hop should see into `outgoing.traceparent`. Returns
   * undefined for an unsampled request, whose header is passed on untouched.
   */
  begin(kind: 'server' | 'client', name: string, incoming: IncomingHttpHeaders, outgoing: OutgoingHttpHeaders | IncomingHttpHeaders): ActiveSpan | undefined {
    // W3C first; a caller that speaks only B3 gets B3 back as well as traceparent.
    const w3c = parseTraceparent(incoming.traceparent);
    const b3 = w3c ? undefined : parseB3(incoming);
    const parent = w3c ?? (b3?.decided ? b3 : undefined);
    const inherited = parent ?? (b3 ? { ...b3, sampled: false } : undefined);
    // A Telemetry resource may turn span reporting off for this side, or set its own sampling.
    const rule = this.opts.policy?.()?.[kind];
    if (rule?.disabled) return undefined;
    if (parent ? !parent.sampled : this.random() * 100 >= (rule?.samplingPercent ?? this.opts.samplingPercent)) return undefined;
    const span: ActiveSpan = {
      traceId: inherited?.traceId ?? randomBytes(16).toString('hex'),
      spanId: randomBytes(8).toString('hex'),
      ...(inherited ? { parentSpanId: inherited.spanId } : {}),
      kind,
      name,
      startMs: Date.now(),
      startPerf: performance.now(),
    };
    outgoing.traceparent = formatTraceparent({ traceId: span.traceId, spanId: span.spanId, sampled: true });
    // Callers that speak B3 (with or without traceparent) see the new span in B3 too.
    if (b3 || incoming.b3 !== undefined || incoming['x-b3-traceid'] !== undefined) {
      delete outgoing.b3;
      Object.assign(outgoing, b3Headers({ traceId: span.traceId, spanId: span.spanId, sampled: true }, span.parentSpanId));
    }
    return span;
  }

  end(span: ActiveSpan, status: number, attributes: Record<string, string | number>): void {
    if (this.queue.length >= (this.opts.maxQueue ?? 4096)) {
      this.queue.shift();
      this.dropped++;
    }
    const { startPerf, ...rest } = span;
    this.queue.push({ ...rest, durationMs: performance.now() - startPerf, status, attributes });
  }

  /** Sends what is queued; one export at a time. */
  flush(): Promise<void> {
    if (this.flushing || this.queue.length === 0) return this.flushing ?? Promise.resolve();
    const batch = this.queue;
    this.queue = [];
    this.flushing = fetch(this.opts.endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(otlpTraceRequest(this.opts.resource, batch)),
      signal: AbortSignal.timeout(5000),
    })
      .then(async (res) => {
        await res.arrayBuffer();
        if (!res.ok) throw new Error(`HTTP ${res.status}`);
        this.warned = false;
      })
      .catch((err: Error) => {
        this.dropped += batch.length;
        if (!this.warned) this.log.warn({ endpoint: this.opts.endpoint, err: err.message, droppedSpans: this.dropped }, 'trace export failed; spans are dropped until the collector answers');
        this.warned = true;
      })
      .finally(() => (this.flushing = undefined));
    return this.flushing;
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
  }
}
