// Distributed tracing without I/O: W3C Trace Context (`traceparent`) parsing and formatting, and
// the OTLP/HTTP JSON encoding of finished spans. The sidecar starts a span per request (server
// span inbound, client span outbound), passes the context on in `traceparent`, and exports the
// spans to an OpenTelemetry collector. Applications forward the header, as with any mesh.

export interface SpanContext {
  traceId: string; // 32 lowercase hex
  spanId: string; // 16 lowercase hex
  sampled: boolean;
}

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/** A valid version-00 header, or undefined (absent, malformed, or all-zero ids: start a new trace). */
export function parseTraceparent(value: string | string[] | undefined): SpanContext | undefined {
  if (typeof value !== 'string') return undefined;
  const m = TRACEPARENT.exec(value.trim());
  if (!m || /^0+$/.test(m[1]) || /^0+$/.test(m[2])) return undefined;
  return { traceId: m[1], spanId: m[2], sampled: (parseInt(m[3], 16) & 1) === 1 };
}

export function formatTraceparent(c: SpanContext): string {
  return `00-${c.traceId}-${c.spanId}-${c.sampled ? '01' : '00'}`;
}

export interface FinishedSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: 'server' | 'client';
  /** Wall-clock start, milliseconds since the epoch (fractional). */
  startMs: number;
  durationMs: number;
  /** HTTP status; 0 when no answer came. 5xx and 0 mark the span as an error, as OpenTelemetry's HTTP conventions do. */
  status: number;
  attributes: Record<string, string | number>;
}

const KIND = { server: 2, client: 3 } as const;

function attribute(key: string, v: string | number): { key: string; value: Record<string, string | number> } {
  return { key, value: typeof v === 'number' && Number.isInteger(v) ? { intValue: String(v) } : typeof v === 'number' ? { doubleValue: v } : { stringValue: v } };
}

const nanos = (ms: number) => (BigInt(Math.round(ms * 1000)) * 1000n).toString();

/** An OTLP/HTTP JSON ExportTraceServiceRequest (POST to <collector>/v1/traces). */
export function otlpTraceRequest(resource: Record<string, string>, spans: FinishedSpan[]): unknown {
  return {
    resourceSpans: [
      {
        resource: { attributes: Object.entries(resource).map(([k, v]) => attribute(k, v)) },
        scopeSpans: [
          {
            scope: { name: 'hostmesh-proxy' },
            spans: spans.map((s) => ({
              traceId: s.traceId,
              spanId: s.spanId,
              ...(s.parentSpanId ? { parentSpanId: s.parentSpanId } : {}),
              name: s.name,
              kind: KIND[s.kind],
              startTimeUnixNano: nanos(s.startMs),
              endTimeUnixNano: nanos(s.startMs + s.durationMs),
              attributes: Object.entries({ ...s.attributes, 'http.status_code': s.status }).map(([k, v]) => attribute(k, v)),
              status: { code: s.status === 0 || s.status >= 500 ? 2 : 1 },
            })),
          },
        ],
      },
    ],
  };
}
