// Controllers on a real Consul agent: discovery, shared resources and CA, and Consul going away.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { startConsul, type ConsulAgent } from '../helpers/consul.js';
import { startController, type TestController } from '../helpers/controller.js';
import { waitFor } from '../helpers/ports.js';

const DR = `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews}
spec:
  host: reviews.service.consul
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
`;

interface Snapshot {
  version: string;
  outbound: { services: { name: string; clusters: { name: string; endpoints: { address: string; port: number; labels: Record<string, string> }[] }[] }[] };
}

describe('controller on Consul', () => {
  let consul: ConsulAgent;
  let a: TestController;
  let b: TestController;
  let app: Server;
  let appPort = 0;
  let appHealthy = true;

  before(async () => {
    consul = await startConsul();
    a = await startController({ consul: consul.address, trustDomain: 'mesh.test' });
    b = await startController({ consul: consul.address, trustDomain: 'mesh.test' });
    app = createServer((_, res) => {
      res.statusCode = appHealthy ? 200 : 503;
      res.end();
    });
    await new Promise<void>((r) => app.listen(0, '127.0.0.1', r));
    appPort = (app.address() as { port: number }).port;
  });
  after(async () => {
    await a?.close();
    await b?.close();
    await consul?.stop();
    app?.close();
  });

  const snapshot = async (c: TestController, proxy = 'productpage-1') => (await c.call('GET', `/v1/snapshots?proxy=${proxy}&service=productpage`)).json<Snapshot>();
  const cluster = (s: Snapshot, name: string) => s.outbound.services.find((x) => x.name === 'reviews')?.clusters.find((c) => c.name === name);

  it('shares one CA root among controllers', async () => {
    const ra = (await a.call('GET', '/v1/ca/roots', undefined, null)).json().roots;
    const rb = (await b.call('GET', '/v1/ca/roots', undefined, null)).json().roots;
    assert.equal(ra.length, 1);
    assert.deepEqual(ra, rb);
  });

  it('stores resources in Consul KV, where a second controller sees them', async () => {
    assert.equal((await a.call('POST', '/v1/apply', DR)).status, 200);
    const kv = await consul.client.kv.get({ key: 'mesh/resources/DestinationRule/default/reviews' });
    assert.ok(kv && typeof (kv as { Value: string }).Value === 'string', 'the resource is in Consul KV');
    const seen = await waitFor(
      'controller B to serve the resource',
      async () => {
        const r = await b.call('GET', '/v1/resources/dr/default/reviews');
        return r.status === 200 ? r.json<{ spec: { host: string } }>() : undefined;
      },
      3000,
    );
    assert.equal(seen.spec.host, 'reviews.service.consul');
    // B's admin token works too: both controllers share the accepted admin tokens.
    assert.equal((await b.call('GET', '/v1/resources', undefined, { token: a.adminToken })).status, 200);
  });

  it('puts an instance registered in Consul into the snapshots within a second, and drops it when its check fails', async () => {
    const before = await snapshot(a);
    const watch = a.call('GET', `/v1/snapshots?proxy=productpage-1&service=productpage&version=${before.version}&wait=10s`);
    const started = Date.now();
    // As the host agent does once it has seen the sidecar ready: register with the local Consul
    // agent, with a health check that starts passing (Consul would otherwise hold a new instance
    // back as critical until its first scheduled check run).
    await consul.client.agent.service.register({
      id: 'reviews-v2-1',
      name: 'reviews',
      address: '127.0.0.1',
      port: appPort,
      meta: { version: 'v2', 'mesh-inbound-port': '15006' },
      check: { http: `http://127.0.0.1:${appPort}/health`, interval: '200ms', timeout: '1s', status: 'passing' } as never,
    });
    let snap = (await watch).json<Snapshot>();
    while (!cluster(snap, 'outbound|v2|reviews.default')?.endpoints.length) snap = await snapshot(a);
    const elapsed = Date.now() - started;
    assert.ok(elapsed <= 1000, `registration reached the snapshot in ${elapsed} ms`);
    assert.deepEqual(
      cluster(snap, 'outbound|v2|reviews.default')!.endpoints.map((e) => [e.address, e.port, e.labels.version]),
      [['127.0.0.1', appPort, 'v2']],
    );
    assert.equal(cluster(snap, 'outbound|v1|reviews.default')!.endpoints.length, 0);
    // The second controller's snapshot agrees.
    await waitFor('controller B sees the endpoint', async () => cluster(await snapshot(b), 'outbound|v2|reviews.default')?.endpoints.length === 1, 2000);

    // Consul's own check schedule decides how soon it notices; the bound here is generous for a
    // loaded CI machine, the 1 s above is the mesh's own propagation.
    appHealthy = false;
    try {
      await waitFor('the failing instance to leave the snapshot', async () => cluster(await snapshot(a), 'outbound|v2|reviews.default')?.endpoints.length === 0, 10_000);
    } finally {
      appHealthy = true;
    }
    await waitFor('the instance to return', async () => cluster(await snapshot(a), 'outbound|v2|reviews.default')?.endpoints.length === 1, 10_000);
  });

  it('shows one mesh-wide telemetry view at every controller, whichever one a proxy reports to', async () => {
    const buckets = (i: number) => Array.from({ length: 20 }, (_, k) => (k === i ? 10 : 0));
    const report = (proxy: string, source: string, errors: number) => ({
      proxy,
      intervalMs: 1000,
      edges: [{ source, destination: 'default/reviews', requests: 10, errors, mtls: 10, latencyBuckets: buckets(2) }],
    });
    assert.equal((await a.call('POST', '/v1/telemetry', report('productpage-1', 'default/productpage', 1))).status, 202);
    assert.equal((await b.call('POST', '/v1/telemetry', report('ratings-1', 'default/ratings', 0))).status, 202);
    type Edge = { source: string; destination: string; requests: number; errorRate: number; mtlsShare: number };
    const edges = async (c: TestController) => ((await c.call('GET', '/v1/telemetry/edges')).json().edges as Edge[]).map((e) => `${e.source}>${e.destination} ${e.requests} ${e.mtlsShare}`).sort();
    const both = ['default/productpage>default/reviews 10 1', 'default/ratings>default/reviews 10 1'];
    await waitFor('the same view at both controllers', async () => JSON.stringify(await edges(a)) === JSON.stringify(both) && JSON.stringify(await edges(b)) === JSON.stringify(both), 10_000, 200);
    const services = (await b.call('GET', '/v1/telemetry/services')).json().services as { service: string; requests: number; errorRate: number }[];
    assert.deepEqual(
      services.map((x) => [x.service, x.requests, x.errorRate]),
      [['default/reviews', 20, 0.05]],
    );
  });

  it('notices within seconds a Consul that hangs rather than refuses, and recovers when it answers again', async () => {
    await consul.pause();
    try {
      // The liveness probe gives Consul 2 s to answer, every 2 s.
      await waitFor('degraded health while Consul hangs', async () => (await a.call('GET', '/healthz', undefined, null)).json().status === 'degraded', 6000, 100);
    } finally {
      consul.resume();
    }
    await waitFor('health back to ok', async () => (await a.call('GET', '/healthz', undefined, null)).json().status === 'ok', 15_000, 100);
  });

  it('keeps serving its last known state while Consul is down, reports itself degraded, and recovers', async () => {
    const last = await snapshot(a);
    await consul.stop();
    await waitFor('degraded health', async () => (await a.call('GET', '/healthz', undefined, null)).json().status === 'degraded', 15_000, 100);
    const health = (await a.call('GET', '/healthz', undefined, null)).json();
    assert.match(health.components.catalog, /unreachable/);
    const during = await snapshot(a);
    assert.equal(during.version, last.version, 'proxies keep getting the last known snapshot');
    assert.equal((await a.call('GET', '/v1/resources/dr/default/reviews')).status, 200, 'resources are served from memory');
    const write = await a.call('POST', '/v1/apply', DR.replace('name: reviews', 'name: other'));
    assert.equal(write.status, 503, 'a write that cannot be stored says so');
    assert.equal(write.json().code, 'UNAVAILABLE');

    await consul.restart();
    await waitFor('health back to ok', async () => (await a.call('GET', '/healthz', undefined, null)).json().status === 'ok', 20_000, 100);
  });
});

// One blocking query per service, each a connection: past the agent's per-client limit Consul
// closes new connections at once and the catalog would look unreachable for no visible reason.
describe('controller on a Consul agent that allows too few connections for its services', () => {
  let consul: ConsulAgent;
  let c: TestController;

  before(async () => {
    consul = await startConsul({ hcl: 'limits { http_max_conns_per_client = 40 }' });
    for (let i = 0; i < 30; i++) await consul.client.catalog.register({ node: 'host-1', address: '127.0.0.1', service: { id: `svc-${i}-1`, service: `svc-${i}`, port: 8080 } });
    c = await startController({ consul: consul.address, trustDomain: 'mesh.test' });
  });

  after(async () => {
    await c?.close();
    await consul?.stop();
  });

  it('reports itself degraded, naming the Consul setting and the value it needs', async () => {
    await waitFor('degraded health', async () => (await c.call('GET', '/healthz', undefined, null)).json().status === 'degraded', 15_000, 100);
    const health = (await c.call('GET', '/healthz', undefined, null)).json();
    assert.match(
      health.components.catalog,
      /watching 30 services takes 46 connections to the Consul agent, which allows 40 per client \(limits\.http_max_conns_per_client\); raise it to at least 100/,
    );
  });
});
