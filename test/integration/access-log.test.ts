// The access log of real mesh-proxy processes: Istio's default JSON fields and meanings for HTTP
// requests at both ends and for TCP connections, and Istio's Telemetry resource turning it off
// or filtering it with a CEL expression per workload, validated when applied.
import assert from 'node:assert/strict';
import { connect, createServer, type Server } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { get, startApp, type TestApp } from '../helpers/apps.js';
import { registerInstance } from '../helpers/catalog.js';
import { startController, type TestController } from '../helpers/controller.js';
import { waitFor } from '../helpers/ports.js';
import { startProxyProcess, type ProxyProcess } from '../helpers/proxy-process.js';

// Istio's default JSON access log format (EnvoyJSONLogFormatIstio), field for field.
const ISTIO_FIELDS = [
  'start_time',
  'route_name',
  'method',
  'path',
  'protocol',
  'response_code',
  'response_flags',
  'response_code_details',
  'connection_termination_details',
  'upstream_transport_failure_reason',
  'bytes_received',
  'bytes_sent',
  'duration',
  'upstream_service_time',
  'x_forwarded_for',
  'user_agent',
  'request_id',
  'authority',
  'upstream_host',
  'upstream_cluster',
  'upstream_local_address',
  'downstream_local_address',
  'downstream_remote_address',
  'requested_server_name',
];

function tcpEcho(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let got = '';
    const s = connect(port, '127.0.0.1', () => s.write(text));
    s.on('data', (d: Buffer) => {
      got += d;
      if (got.length >= text.length) s.end();
    });
    s.on('close', () => resolve(got));
    s.on('error', reject);
  });
}

describe("the access log, in Istio's format, shaped by Telemetry", () => {
  let c: TestController;
  let app: TestApp;
  let echo: Server;
  let echoPort = 0;
  let reviews: ProxyProcess;
  let db: ProxyProcess;
  let productpage: ProxyProcess;
  const telemetry = (name: string, spec: object) => ({ apiVersion: 'telemetry.istio.io/v1', kind: 'Telemetry', metadata: { name, namespace: 'default' }, spec });
  const lineFor = (p: ProxyProcess, pred: (l: Record<string, unknown>) => boolean) => p.accessLog().find(pred);

  before(async () => {
    c = await startController();
    app = await startApp('reviews', (path) => (path.startsWith('/missing') ? 404 : 200));
    echo = createServer((s) => s.pipe(s));
    await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
    echoPort = (echo.address() as { port: number }).port;
    reviews = await startProxyProcess(c, 'reviews', app.port);
    db = await startProxyProcess(c, 'db', echoPort);
    await registerInstance(c, 'reviews-1', 'reviews', app.port, { sidecar: reviews });
    await registerInstance(c, 'db-1', 'db', echoPort, { protocol: 'tcp', sidecar: db });
    productpage = await startProxyProcess(c, 'productpage', 1, { upstreams: ['reviews', 'db'] });
    await waitFor('reviews and db at productpage', async () => (await productpage.configDump()).outbound.services.length >= 2, 10_000);
  });

  after(async () => {
    for (const p of [productpage, reviews, db]) await p?.stop();
    await new Promise((r) => echo?.close(r));
    await app?.close();
    await c?.close();
  });

  it("logs a request at both sidecars with Istio's fields and meanings", async () => {
    const r = await get(productpage.ports.upstreams.reviews, '/reviews/1?x=1', { host: 'reviews', 'x-request-id': 'req-one', 'user-agent': 'access-test/1' });
    assert.equal(r.status, 200);
    let client: Record<string, unknown> | undefined;
    let server: Record<string, unknown> | undefined;
    await waitFor('both lines', () => Boolean((client = lineFor(productpage, (l) => l.request_id === 'req-one')) && (server = lineFor(reviews, (l) => l.request_id === 'req-one'))), 5000);
    for (const line of [client!, server!]) assert.deepEqual(Object.keys(line), ISTIO_FIELDS);
    assert.equal(client!.method, 'GET');
    assert.equal(client!.path, '/reviews/1?x=1');
    assert.equal(client!.protocol, 'HTTP/1.1');
    assert.equal(client!.response_code, 200);
    assert.equal(client!.response_flags, '-');
    assert.equal(client!.response_code_details, 'via_upstream');
    assert.equal(client!.route_name, 'default');
    assert.equal(client!.authority, 'reviews');
    assert.equal(client!.user_agent, 'access-test/1');
    assert.equal(client!.upstream_cluster, `outbound|${app.port}||reviews.default.svc.cluster.local`);
    assert.equal(client!.upstream_host, `127.0.0.1:${reviews.ports.inbound}`);
    assert.match(String(client!.downstream_remote_address), /^127\.0\.0\.1:\d+$/);
    assert.ok(Number(client!.bytes_sent) > 0 && typeof client!.duration === 'number');
    assert.ok(!Number.isNaN(Date.parse(String(client!.start_time))));
    assert.equal(server!.upstream_cluster, `inbound|${app.port}||`);
    assert.equal(server!.upstream_host, `127.0.0.1:${app.port}`);
    assert.equal(server!.route_name, 'default');
    assert.equal(server!.path, '/reviews/1?x=1');
  });

  it("logs a local answer with its flag, Envoy's details and the route's name", async () => {
    const vs = {
      apiVersion: 'networking.istio.io/v1',
      kind: 'VirtualService',
      metadata: { name: 'reviews', namespace: 'default' },
      spec: {
        hosts: ['reviews'],
        http: [
          { match: [{ uri: { prefix: '/fault' } }], fault: { abort: { httpStatus: 503, percentage: { value: 100 } } }, route: [{ destination: { host: 'reviews' } }] },
          { route: [{ destination: { host: 'reviews' } }] },
        ],
      },
    };
    assert.equal((await c.call('POST', '/v1/apply', vs)).status, 200);
    await waitFor('the fault at productpage', async () => (await get(productpage.ports.upstreams.reviews, '/fault', { host: 'reviews' })).status === 503, 10_000);
    await get(productpage.ports.upstreams.reviews, '/fault/1', { host: 'reviews', 'x-request-id': 'req-fault' });
    let line: Record<string, unknown> | undefined;
    await waitFor('the line', () => Boolean((line = lineFor(productpage, (l) => l.request_id === 'req-fault'))), 5000);
    assert.equal(line!.response_code, 503);
    assert.equal(line!.response_flags, 'FI');
    assert.equal(line!.response_code_details, 'fault_filter_abort');
    assert.equal(line!.route_name, 'default/reviews/0');
    assert.equal(line!.upstream_host, null);
    assert.equal((await c.call('DELETE', '/v1/resources/vs/default/reviews')).status, 204);
  });

  it('logs a TCP connection when it closes: bytes each way, its cluster, no HTTP fields', async () => {
    assert.equal(await tcpEcho(productpage.ports.upstreams.db, 'ping!\n'), 'ping!\n');
    let line: Record<string, unknown> | undefined;
    await waitFor('the TCP line', () => Boolean((line = lineFor(productpage, (l) => String(l.upstream_cluster).endsWith('|db.default.svc.cluster.local')))), 5000);
    assert.deepEqual(Object.keys(line!), ISTIO_FIELDS);
    assert.equal(line!.method, null);
    assert.equal(line!.response_code, 0);
    assert.equal(line!.bytes_received, 6);
    assert.equal(line!.bytes_sent, 6);
    assert.equal(line!.upstream_cluster, `outbound|${echoPort}||db.default.svc.cluster.local`);
    await waitFor('the server side too', () => Boolean(lineFor(db, (l) => l.upstream_cluster === `inbound|${echoPort}||` && l.bytes_received === 6)), 5000);
  });

  it('logs a TCP connection that authorization refuses, with the RBAC flag', async () => {
    const policy = {
      apiVersion: 'security.istio.io/v1',
      kind: 'AuthorizationPolicy',
      metadata: { name: 'db-closed', namespace: 'default' },
      spec: { selector: { matchLabels: { app: 'db' } }, action: 'DENY', rules: [{}] },
    };
    assert.equal((await c.call('POST', '/v1/apply', policy)).status, 200);
    await waitFor('the policy at db', async () => ((await db.configDump()).inbound.authorization.deny as unknown[]).length > 0, 10_000);
    assert.equal(await tcpEcho(productpage.ports.upstreams.db, 'nope\n').catch(() => ''), '');
    await waitFor("the refusal in db's log", () => Boolean(lineFor(db, (l) => l.response_flags === 'RBAC' && l.upstream_cluster === `inbound|${echoPort}||`)), 5000);
    assert.equal((await c.call('DELETE', '/v1/resources/ap/default/db-closed')).status, 204);
    await waitFor('the policy gone at db', async () => ((await db.configDump()).inbound.authorization.deny as unknown[]).length === 0, 10_000);
  });

  it('Telemetry: a CEL filter keeps only the errors of one workload, and disabled turns another off', async () => {
    const applied = await c.call(
      'POST',
      '/v1/apply',
      telemetry('productpage-errors', { selector: { matchLabels: { app: 'productpage' } }, accessLogging: [{ providers: [{ name: 'envoy' }], filter: { expression: 'response.code >= 400' } }] }),
    );
    assert.equal(applied.status, 200, applied.text);
    assert.equal((await c.call('POST', '/v1/apply', telemetry('reviews-off', { selector: { matchLabels: { app: 'reviews' } }, accessLogging: [{ disabled: true }] }))).status, 200);
    await waitFor('both rules at the sidecars', async () => Boolean((await productpage.configDump()).telemetry && (await reviews.configDump()).telemetry), 10_000);
    await get(productpage.ports.upstreams.reviews, '/reviews/2', { host: 'reviews', 'x-request-id': 'req-ok' });
    await get(productpage.ports.upstreams.reviews, '/missing', { host: 'reviews', 'x-request-id': 'req-missing' });
    await waitFor('the error line', () => Boolean(lineFor(productpage, (l) => l.request_id === 'req-missing' && l.response_code === 404)), 5000);
    assert.equal(
      lineFor(productpage, (l) => l.request_id === 'req-ok'),
      undefined,
      'a 200 does not pass response.code >= 400',
    );
    assert.equal(
      lineFor(reviews, (l) => l.request_id === 'req-ok' || l.request_id === 'req-missing'),
      undefined,
      'reviews logs nothing',
    );
    await c.call('DELETE', '/v1/resources/Telemetry/default/productpage-errors');
    await c.call('DELETE', '/v1/resources/Telemetry/default/reviews-off');
  });

  it('Telemetry is validated like every other kind: the filter, the providers, what is not supported', async () => {
    const bad = await c.call(
      'POST',
      '/v1/apply',
      telemetry('bad', { accessLogging: [{ providers: [{ name: 'stackdriver' }], filter: { expression: 'response.code >= ' } }], metrics: [{ overrides: [{ disabled: true }] }] }),
    );
    assert.equal(bad.status, 422);
    assert.match(bad.text, /accessLogging\[0\]\.providers\[0\]\.name: \\"stackdriver\\" is not a provider here; use \\"envoy\\"/);
    assert.match(bad.text, /accessLogging\[0\]\.filter\.expression.*the expression ends too early \(at character 18\)/);
    assert.match(bad.text, /metrics\[0\]\.overrides.*not supported/);
    const unknown = await c.call('POST', '/v1/apply', telemetry('bad2', { accessLogging: [{ filter: { expression: "request.headerz['a'] == 'b'" } }] }));
    assert.match(unknown.text, /unknown attribute \\"request.headerz\\"/);
  });
});
