// W3C trace context and the OTLP JSON encoding of spans.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatTraceparent, otlpTraceRequest, parseTraceparent } from '../../core/tracing.js';

describe('traceparent', () => {
  it('reads a valid header and writes it back the same', () => {
    const h = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    assert.deepEqual(parseTraceparent(h), { traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7', sampled: true });
    assert.equal(formatTraceparent(parseTraceparent(h)!), h);
    assert.equal(parseTraceparent('00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00')?.sampled, false);
  });

  it('ignores malformed headers and all-zero ids, so that a new trace starts', () => {
    for (const bad of [undefined, '', 'garbage', '01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01', '00-00000000000000000000000000000000-00f067aa0ba902b7-01', '00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01', '00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01']) {
      assert.equal(parseTraceparent(bad), undefined, String(bad));
    }
  });
});

describe('OTLP/HTTP JSON', () => {
  it('encodes spans with hex ids, nanosecond times as strings, kinds and error status', () => {
    const body = otlpTraceRequest({ 'service.name': 'reviews' }, [
      { traceId: 'a'.repeat(32), spanId: 'b'.repeat(16), parentSpanId: 'c'.repeat(16), name: 'reviews:9080/*', kind: 'server', startMs: 1700000000000.5, durationMs: 1.25, status: 503, attributes: { 'http.method': 'GET' } },
    ]) as { resourceSpans: { resource: unknown; scopeSpans: { spans: Record<string, unknown>[] }[] }[] };
    assert.deepEqual(body.resourceSpans[0].resource, { attributes: [{ key: 'service.name', value: { stringValue: 'reviews' } }] });
    assert.deepEqual(body.resourceSpans[0].scopeSpans[0].spans[0], {
      traceId: 'a'.repeat(32),
      spanId: 'b'.repeat(16),
      parentSpanId: 'c'.repeat(16),
      name: 'reviews:9080/*',
      kind: 2,
      startTimeUnixNano: '1700000000000500000',
      endTimeUnixNano: '1700000000001750000',
      attributes: [
        { key: 'http.method', value: { stringValue: 'GET' } },
        { key: 'http.status_code', value: { intValue: '503' } },
      ],
      status: { code: 2 },
    });
  });
});
