// W3C trace context, Zipkin B3, and the OTLP JSON encoding of spans.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { b3Headers, formatTraceparent, otlpTraceRequest, parseB3, parseTraceparent } from '../../core/tracing.js';

describe('traceparent', () => {
  it('reads a valid header and writes it back the same', () => {
    const h = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    assert.deepEqual(parseTraceparent(h), { traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7', sampled: true });
    assert.equal(formatTraceparent(parseTraceparent(h)!), h);
    assert.equal(parseTraceparent('00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00')?.sampled, false);
  });

  it('ignores malformed headers and all-zero ids, so that a new trace starts', () => {
    for (const bad of [
      undefined,
      '',
      'garbage',
      '01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
      '00-00000000000000000000000000000000-00f067aa0ba902b7-01',
      '00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01',
      '00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01',
    ]) {
      assert.equal(parseTraceparent(bad), undefined, String(bad));
    }
  });
});

describe('B3', () => {
  it('reads the single header and the x-b3 headers, widening 64-bit trace ids', () => {
    assert.deepEqual(parseB3({ b3: '80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1-05e3ac9a4f6e3b90' }), {
      traceId: '80f198ee56343ba864fe8b2a57d3eff7',
      spanId: 'e457b5a2e4d86bd1',
      sampled: true,
      decided: true,
    });
    assert.deepEqual(parseB3({ 'x-b3-traceid': '64fe8b2a57d3eff7', 'x-b3-spanid': 'e457b5a2e4d86bd1' }), {
      traceId: '000000000000000064fe8b2a57d3eff7',
      spanId: 'e457b5a2e4d86bd1',
      sampled: false,
      decided: false,
    });
    assert.equal(parseB3({ 'x-b3-traceid': '64fe8b2a57d3eff7', 'x-b3-spanid': 'e457b5a2e4d86bd1', 'x-b3-flags': '1' })?.sampled, true, 'debug means sampled');
    assert.equal(parseB3({ b3: '0' }), undefined, 'a bare deny decision carries no context');
    assert.equal(parseB3({ b3: 'zz-e457b5a2e4d86bd1-1' }), undefined);
  });
  it('writes the x-b3 headers for the next hop', () => {
    assert.deepEqual(b3Headers({ traceId: 'a'.repeat(32), spanId: 'b'.repeat(16), sampled: true }, 'c'.repeat(16)), {
      'x-b3-traceid': 'a'.repeat(32),
      'x-b3-spanid': 'b'.repeat(16),
      'x-b3-sampled': '1',
      'x-b3-parentspanid': 'c'.repeat(16),
    });
  });
});

describe('OTLP/HTTP JSON', () => {
  it('encodes spans with hex ids, nanosecond times as strings, kinds and error status', () => {
    const body = otlpTraceRequest({ 'service.name': 'reviews' }, [
      {
        traceId: 'a'.repeat(32),
        spanId: 'b'.repeat(16),
        parentSpanId: 'c'.repeat(16),
        name: 'reviews:9080/*',
        kind: 'server',
        startMs: 1700000000000.5,
        durationMs: 1.25,
        status: 503,
        attributes: { 'http.method': 'GET' },
      },
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
