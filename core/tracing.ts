// Distributed tracing without I/O: W3C Trace Context (`traceparent`) and Zipkin B3 parsing and formatting, and
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

type HeaderBag = Record<string, string | string[] | number | undefined>;

const HEX_ID = /^(?:[0-9a-f]{16}|[0-9a-f]{32})$/;
const SPAN_ID = /^[0-9a-f]{16}$/;

/**
 * Zipkin's B3 context, for callers that speak it instead of W3C: the single `b3` header
 * (`traceid-spanid[-sampled[-parent]]`) or the `x-b3-*` headers. A 64-bit trace id is widened
 * to 128 bits. `sampled` follows `1`/`d` (debug) or `x-b3-flags: 1`; absent means sampled only
 * when the caller said so, so the sampler decides.
 */
export function parseB3(headers: HeaderBag): (SpanContext & { decided: boolean }) | undefined {
  const one = headers.b3;
  let traceId: string | undefined;
  let spanId: string | undefined;
  let sampled: string | undefined;
  if (typeof one === 'string') {
    [traceId, spanId, sampled] = one.trim().toLowerCase().split('-');
  } else {
    traceId = typeof headers['x-b3-traceid'] === 'string' ? headers['x-b3-traceid'].toLowerCase() : undefined;
    spanId = typeof headers['x-b3-spanid'] === 'string' ? headers['x-b3-spanid'].toLowerCase() : undefined;
    sampled = headers['x-b3-flags'] === '1' ? 'd' : typeof headers['x-b3-sampled'] === 'string' ? headers['x-b3-sampled'].toLowerCase() : undefined;
  }
  if (!traceId || !spanId || !HEX_ID.test(traceId) || !SPAN_ID.test(spanId) || /^0+$/.test(traceId)) return undefined;
  const decided = sampled !== undefined;
  return { traceId: traceId.padStart(32, '0'), spanId, sampled: sampled === '1' || sampled === 'd' || sampled === 'true', decided };
}

/** The x-b3-* headers for the next hop. */
export function b3Headers(c: SpanContext, parentSpanId?: string): Record<string, string> {
  return { 'x-b3-traceid': c.traceId, 'x-b3-spanid': c.spanId, 'x-b3-sampled': c.sampled ? '1' : '0', ...(parentSpanId ? { 'x-b3-parentspanid': parentSpanId } : {}) };
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
