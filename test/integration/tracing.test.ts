// Distributed tracing through two real sidecars with mTLS between them. The spans go to a small
// OTLP/HTTP receiver in this test: it stands in for an OpenTelemetry Collector, which cannot be
// installed on this machine (no container registry, not packaged in Debian). It checks what a
// collector would get: the OTLP JSON the sidecars send.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { Sidecar } from '../../proxy/sidecar.js';
import { get, startApp, type TestApp } from '../helpers/apps.js';
import { startController, type TestController } from '../helpers/controller.js';
import { waitFor } from '../helpers/ports.js';
import { sidecarOptions } from '../helpers/sidecar.js';

interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes: { key: string; value: { stringValue?: string; intValue?: string } }[];
  status: { code: number };
}

const silent = pino({ level: process.env.MESH_TEST_LOG ?? 'silent' });

describe('tracing: spans from both sidecars, exported over OTLP/HTTP', () => {
  let c: TestController;
  let app: TestApp;
  let collector: Server;
  let collectorUrl = '';
  const received: { service: string; span: OtlpSpan }[] = [];
  const sidecars: Sidecar[] = [];
  let upstreamPort = 0;

  const sidecar = async (service: string, id: string, appPort: number, upstreams: { port: number; service: string }[]) => {
    const token = (await c.call('POST', '/v1/tokens', { service })).json().token;
    const s = new Sidecar(
      sidecarOptions(c, service, appPort, { bootstrapToken: token, proxyId: id, upstreams, telemetryIntervalMs: 10_000, tracing: { endpoint: collectorUrl, samplingPercent: 100 } }),
      silent,
    );
    await s.start();
    sidecars.push(s);
    return s;
  };
  const spansOf = (traceId: string) => received.filter((r) => r.span.traceId === traceId);
  const attr = (s: OtlpSpan, key: string) => s.attributes.find((a) => a.key === key)?.value;

  before(async () => {
    collector = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (d: Buffer) => chunks.push(d));
      req.on('end', () => {
        const body = JSON.parse(Buffer.concat(chunks).toString()) as {
          resourceSpans: { resource: { attributes: { key: string; value: { stringValue: string } }[] }; scopeSpans: { spans: OtlpSpan[] }[] }[];
        };
        for (const rs of body.resourceSpans) {
          const service = rs.resource.attributes.find((a) => a.key === 'service.name')!.value.stringValue;
          for (const ss of rs.scopeSpans) for (const span of ss.spans) received.push({ service, span });
        }
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    });
    await new Promise<void>((r) => collector.listen(0, '127.0.0.1', r));
    collectorUrl = `http://127.0.0.1:${(collector.address() as { port: number }).port}/v1/traces`;
    c = await startController();
    app = await startApp('reviews-v1', (path) => (path.startsWith('/fail') ? 503 : 200));
    const server = await sidecar('reviews', 'reviews-1', app.port, []);
    await c.call('POST', '/v1/catalog/instances', {
      id: 'reviews-1',
      service: 'reviews',
      address: '127.0.0.1',
      port: app.port,
      protocol: 'http',
      labels: { version: 'v1' },
      sidecar: { inboundPort: server.ports.inbound },
    });
    const client = await sidecar('productpage', 'productpage-1', 1, [{ port: 0, service: 'reviews' }]);
    upstreamPort = client.ports.upstreams.reviews;
    await waitFor('productpage to learn reviews', () => (client.snapshot?.outbound.services.find((s) => s.name === 'reviews')?.clusters[0].endpoints.length ?? 0) === 1, 5000);
  });

  after(async () => {
    for (const s of sidecars) await s.close();
    await app?.close();
    collector?.close();
    await c?.close();
  });

  it("continues the caller's trace through both sidecars, each span the child of the one before", async () => {
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const r = await get(upstreamPort, '/reviews/1', { traceparent: `00-${traceId}-00f067aa0ba902b7-01` });
    assert.equal(r.status, 200);
    await waitFor('both spans at the collector', () => spansOf(traceId).length === 2, 5000);
    const client = spansOf(traceId).find((s) => s.service === 'productpage')!.span;
    const server = spansOf(traceId).find((s) => s.service === 'reviews')!.span;
    assert.equal(client.kind, 3, 'client span');
    assert.equal(client.parentSpanId, '00f067aa0ba902b7', "the app's span is the client span's parent");
    assert.equal(server.kind, 2, 'server span');
    assert.equal(server.parentSpanId, client.spanId, "the server span is the client span's child");
    assert.equal(r.json().headers.traceparent, `00-${traceId}-${server.spanId}-01`, 'the application sees the server span as its parent');
    assert.equal(attr(server, 'http.status_code')?.intValue, '200');
    assert.equal(attr(server, 'peer_principal')?.stringValue, 'spiffe://cluster.local/ns/default/sa/productpage');
    assert.equal(server.status.code, 1);
  });

  it('continues a trace from a caller that speaks Zipkin B3, and answers it in B3 as well', async () => {
    const r = await get(upstreamPort, '/reviews/b3', { 'x-b3-traceid': 'a3ce929d0e0e4736', 'x-b3-spanid': '00f067aa0ba902b8', 'x-b3-sampled': '1' });
    const traceId = '0000000000000000a3ce929d0e0e4736'; // a 64-bit B3 id, widened
    await waitFor('both spans at the collector', () => spansOf(traceId).length === 2, 5000);
    const client = spansOf(traceId).find((s) => s.service === 'productpage')!.span;
    const server = spansOf(traceId).find((s) => s.service === 'reviews')!.span;
    assert.equal(client.parentSpanId, '00f067aa0ba902b8', "the caller's B3 span is the parent");
    const seen = r.json().headers;
    assert.equal(seen['x-b3-traceid'], traceId);
    assert.equal(seen['x-b3-spanid'], server.spanId, 'the application sees the server span in B3');
    assert.equal(seen['x-b3-parentspanid'], client.spanId);
    assert.equal(seen['x-b3-sampled'], '1');
    assert.equal(seen.traceparent, `00-${traceId}-${server.spanId}-01`, 'and in W3C form');

    const before = received.length;
    const off = await get(upstreamPort, '/reviews/b3-off', { b3: 'a3ce929d0e0e4737-00f067aa0ba902b9-0' });
    assert.equal(off.json().headers.b3, 'a3ce929d0e0e4737-00f067aa0ba902b9-0', 'an unsampled B3 context is passed on untouched');
    await new Promise((res) => setTimeout(res, 1500));
    assert.equal(received.length, before, 'no spans for it');
  });

  it('starts a trace when the caller sends none, and leaves an unsampled one alone', async () => {
    const fresh = await get(upstreamPort, '/reviews/2');
    const header = fresh.json().headers.traceparent as string;
    assert.match(header, /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    await waitFor('the new trace at the collector', () => spansOf(header.split('-')[1]).length === 2, 5000);

    const unsampled = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00';
    const before = received.length;
    const r = await get(upstreamPort, '/reviews/3', { traceparent: unsampled });
    assert.equal(r.json().headers.traceparent, unsampled, 'passed on untouched');
    await new Promise((res) => setTimeout(res, 1500));
    assert.equal(received.length, before, 'no spans for an unsampled trace');
  });

  it('marks a failed exchange as an error on both sides', async () => {
    const traceId = '11111111111111111111111111111111';
    const r = await get(upstreamPort, '/fail', { traceparent: `00-${traceId}-2222222222222222-01` });
    assert.equal(r.status, 503);
    await waitFor('the spans', () => spansOf(traceId).length >= 2, 5000);
    for (const { span } of spansOf(traceId)) {
      assert.equal(span.status.code, 2, `${span.name} is an error span`);
      assert.equal(attr(span, 'http.status_code')?.intValue, '503');
    }
  });
});
