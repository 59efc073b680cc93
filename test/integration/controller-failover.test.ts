// Sidecars that know several controllers (--controller A,B) on one Consul: when the controller
// they talk to goes away, they fail over on their own: config applied at the other one reaches
// them, new endpoints too, and their certificates keep renewing through it. Traffic never stops.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { certificateInfo } from '../../core/pki/certificate-info.js';
import type { Sidecar } from '../../proxy/sidecar.js';
import { get, startApp, type TestApp } from '../helpers/apps.js';
import { registerInstance } from '../helpers/catalog.js';
import { startConsul, type ConsulAgent } from '../helpers/consul.js';
import { startController, type TestController } from '../helpers/controller.js';
import { waitFor } from '../helpers/ports.js';
import { startSidecar } from '../helpers/sidecar.js';
import { startSilentRelay, type SilentRelay } from '../helpers/silent-relay.js';

describe('sidecars fail over between controllers', () => {
  let consul: ConsulAgent;
  let a: TestController;
  let b: TestController;
  let v1: TestApp;
  let v2: TestApp;
  let reviews: Sidecar;
  let productpage: Sidecar;
  const serial = (s: Sidecar) => certificateInfo(s.identity!.certPem).serialHex;

  before(async () => {
    consul = await startConsul();
    a = await startController({ consul: consul.address, leafTtl: '1m' });
    b = await startController({ consul: consul.address, leafTtl: '1m' });
    v1 = await startApp('reviews-v1');
    v2 = await startApp('reviews-v2');
    const both = { controller: `${a.url},${b.url}`, certRenewAt: 0.1, telemetryIntervalMs: 300 };
    reviews = await startSidecar(a, 'reviews', v1.port, both);
    await registerInstance(a, 'reviews-1', 'reviews', v1.port, { sidecar: reviews });
    productpage = await startSidecar(a, 'productpage', 1, { ...both, proxyId: 'productpage-1', upstreams: [{ port: 0, service: 'reviews' }] });
    await waitFor('reviews at productpage', () => productpage.snapshot?.outbound.services.some((s) => s.name === 'reviews' && s.clusters[0]?.endpoints.length === 1) ?? false, 10_000);
  });

  after(async () => {
    for (const s of [productpage, reviews]) await s?.close();
    for (const x of [v1, v2]) await x?.close();
    await b?.close();
    await a?.close();
    await consul?.stop();
  });

  it('keeps serving, and takes config, endpoints and certificates from the other controller once one is gone', async () => {
    assert.equal((await get(productpage.ports.upstreams.reviews, '/', { host: 'reviews' })).status, 200);
    const before = { productpage: serial(productpage), reviews: serial(reviews) };
    // Counts a proxy reported to a, shared with b before a goes.
    const buckets = Array.from({ length: 20 }, (_, k) => (k === 2 ? 5 : 0));
    await a.call('POST', '/v1/telemetry', {
      proxy: 'batch-1',
      intervalMs: 1000,
      edges: [{ source: 'default/batch', destination: 'default/reviews', requests: 5, errors: 0, latencyBuckets: buckets }],
    });
    const batchAt = async (c: TestController) => ((await c.call('GET', '/v1/telemetry/edges')).json().edges as { source: string }[]).some((e) => e.source === 'default/batch');
    await waitFor("a's window at b", () => batchAt(b), 10_000, 200);
    await a.close();
    // Traffic goes on: sidecars carry it themselves.
    assert.equal((await get(productpage.ports.upstreams.reviews, '/', { host: 'reviews' })).status, 200);

    // Config applied at the surviving controller reaches the sidecar.
    const applied = await b.call('POST', '/v1/apply', {
      apiVersion: 'networking.istio.io/v1',
      kind: 'VirtualService',
      metadata: { name: 'reviews', namespace: 'default' },
      spec: { hosts: ['reviews'], http: [{ headers: { response: { set: { 'x-served-via': 'b' } } }, route: [{ destination: { host: 'reviews' } }] }] },
    });
    assert.equal(applied.status, 200, applied.text);
    await waitFor('the route from b at productpage', async () => (await get(productpage.ports.upstreams.reviews, '/', { host: 'reviews' })).headers['x-served-via'] === 'b', 40_000, 200);

    // A new endpoint registered there too.
    await registerInstance(b, 'reviews-2', 'reviews', v2.port, { version: 'v2' });
    await waitFor('the new endpoint at productpage', () => productpage.snapshot?.outbound.services.find((s) => s.name === 'reviews')?.clusters[0]?.endpoints.length === 2, 20_000, 100);

    // Certificates renew through it (a one-minute leaf renewed at a tenth of its life).
    await waitFor('both certificates renewed through b', () => serial(productpage) !== before.productpage && serial(reviews) !== before.reviews, 30_000, 200);
    assert.equal((await get(productpage.ports.upstreams.reviews, '/', { host: 'reviews' })).status, 200, 'mTLS with the renewed certificates');
    assert.ok(await batchAt(b), 'what a received is still in the mesh-wide view after a is gone');
    // What the sidecar runs is reported to the controller it now talks to (meshctl proxy-config there).
    await waitFor('the state report at b', async () => (await b.call('GET', '/v1/proxies/productpage-1/config-dump')).status === 200, 10_000, 200);
  });

  it('refuses a controller list with a URL that is no https:// URL, naming it', async () => {
    await assert.rejects(startSidecar(b, 'ratings', 1, { controller: `${b.url},http://plain:15012` }), /"http:\/\/plain:15012" is not a controller's https:\/\/ URL/);
  });
});

// A controller whose host goes silent (power or network lost: no reset, no answer) looks like a
// long poll that is merely waiting. The controller sends a heartbeat (102 Processing) on held
// watches, so sidecars notice the silence within seconds, not at the end of the 30 s wait.
describe('sidecars fail over from a controller whose host goes silent', () => {
  let consul: ConsulAgent;
  let a: TestController;
  let b: TestController;
  let relay: SilentRelay;
  let productpage: Sidecar;

  before(async () => {
    consul = await startConsul();
    a = await startController({ consul: consul.address });
    b = await startController({ consul: consul.address });
    relay = await startSilentRelay(a.controller.address.port);
    await registerInstance(a, 'reviews-1', 'reviews', 1);
    productpage = await startSidecar(a, 'productpage', 1, { controller: `https://127.0.0.1:${relay.port},${b.url}`, proxyId: 'productpage-1', upstreams: [{ port: 0, service: 'reviews' }] });
    await waitFor('reviews at productpage', () => productpage.snapshot?.outbound.services.some((s) => s.name === 'reviews') ?? false, 10_000);
  });

  after(async () => {
    await productpage?.close();
    await relay?.close();
    await b?.close();
    await a?.close();
    await consul?.stop();
  });

  it('takes config applied at the other controller within seconds', async () => {
    // The watch is held at a, through the relay.
    await new Promise((r) => setTimeout(r, 1000));
    relay.goSilent();
    const applied = await b.call('POST', '/v1/apply', {
      apiVersion: 'networking.istio.io/v1',
      kind: 'VirtualService',
      metadata: { name: 'reviews', namespace: 'default' },
      spec: { hosts: ['reviews'], http: [{ timeout: '7s', route: [{ destination: { host: 'reviews' } }] }] },
    });
    assert.equal(applied.status, 200, applied.text);
    const holdsRoute = () => productpage.snapshot?.outbound.services.find((s) => s.name === 'reviews')?.httpRoutes.some((r) => r.timeoutMs === 7000) ?? false;
    // Three missed 4 s heartbeats; without them the watch would wait out its 45 s timeout.
    await waitFor('the route from b at productpage', holdsRoute, 25_000, 200);
  });
});
