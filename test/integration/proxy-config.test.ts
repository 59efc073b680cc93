// meshctl proxy-config KIND PROXY against a live mesh: what the sidecar itself runs, as it
// reports it to the controller. The endpoint view shows what only the sidecar knows (outlier
// detection ejected an instance); the secret view, the certificate it serves with. And the
// report is a caller's input: another workload may not send it, nor may it carry escapes.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Sidecar } from '../../proxy/sidecar.js';
import { certificateInfo } from '../../core/pki/certificate-info.js';
import { get, startApp, type TestApp } from '../helpers/apps.js';
import { registerInstance } from '../helpers/catalog.js';
import { startController, type TestController } from '../helpers/controller.js';
import { runMeshctl } from '../helpers/meshctl.js';
import { freePort, waitFor } from '../helpers/ports.js';
import { startSidecar } from '../helpers/sidecar.js';

describe('meshctl proxy-config, from the sidecar', () => {
  let c: TestController;
  let app: TestApp;
  let reviews: Sidecar;
  let productpage: Sidecar;
  let deadPort = 0;
  const run = (args: string[]) => runMeshctl(c.dataDir, args);

  before(async () => {
    c = await startController();
    app = await startApp('reviews');
    reviews = await startSidecar(c, 'reviews', app.port);
    deadPort = await freePort();
    await registerInstance(c, 'reviews-1', 'reviews', app.port, { sidecar: reviews });
    // An instance nobody answers for: outlier detection ejects it at its first failure.
    await registerInstance(c, 'reviews-2', 'reviews', deadPort, { version: 'v2' });
    await c.call('POST', '/v1/apply', {
      apiVersion: 'networking.istio.io/v1',
      kind: 'DestinationRule',
      metadata: { name: 'reviews', namespace: 'default' },
      spec: {
        host: 'reviews',
        trafficPolicy: { outlierDetection: { consecutive5xxErrors: 1, interval: '1s', baseEjectionTime: '5m', maxEjectionPercent: 100 } },
        subsets: [{ name: 'v1', labels: { version: 'v1' } }],
      },
    });
    productpage = await startSidecar(c, 'productpage', 1, { proxyId: 'productpage-1', upstreams: [{ port: 0, service: 'reviews' }], telemetryIntervalMs: 200 });
    await waitFor(
      'the outlier policy at productpage',
      () => productpage.snapshot?.outbound.services.find((s) => s.name === 'reviews')?.clusters.every((cl) => cl.endpoints.length > 0 && cl.outlierDetection) ?? false,
      5000,
    );
    // Round robin reaches the dead instance within a few requests; retries go to the live one.
    for (let i = 0; i < 6; i++) await get(productpage.ports.upstreams.reviews, '/', { host: 'reviews' });
  });

  after(async () => {
    for (const s of [productpage, reviews]) await s?.close();
    await app?.close();
    await c?.close();
  });

  it('endpoint: each instance, and which one outlier detection has ejected', async () => {
    let out = '';
    await waitFor('the ejection in the reported state', async () => /127\.0\.0\.1:\d+ +UNHEALTHY +FAILED/.test((out = (await run(['proxy-config', 'endpoint', 'productpage-1'])).out)), 5000);
    assert.match(out, /^ENDPOINT +STATUS +OUTLIER CHECK +CLUSTER +VIA$/m);
    assert.match(out, new RegExp(`127\\.0\\.0\\.1:${deadPort} +UNHEALTHY +FAILED +outbound\\|\\d+\\|\\|reviews\\.default\\.svc\\.cluster\\.local +direct`));
    assert.match(out, new RegExp(`127\\.0\\.0\\.1:${app.port} +HEALTHY +OK +outbound\\|\\d+\\|\\|reviews\\.default\\.svc\\.cluster\\.local +mTLS to its sidecar :${reviews.ports.inbound}`));
    assert.match(out, /\(as productpage-1 reported it \d+s ago; snapshot [0-9a-f]+\)/);
  });

  it('cluster, route and listener: named as Envoy names them under Istio', async () => {
    const clusters = (await run(['proxy-config', 'cluster', 'productpage-1'])).out;
    assert.match(clusters, /^SERVICE FQDN +PORT +SUBSET +DIRECTION +TLS +LB +ENDPOINTS$/m);
    assert.match(clusters, /reviews\.default\.svc\.cluster\.local +\d+ +v1 +outbound +ISTIO_MUTUAL \(auto\) +ROUND_ROBIN +1/);
    assert.match(clusters, /reviews\.default\.svc\.cluster\.local +\d+ +- +outbound +ISTIO_MUTUAL \(auto\) +ROUND_ROBIN +2/);
    const routes = (await run(['proxy-config', 'routes', 'productpage-1'])).out;
    assert.match(routes, /default +default\/reviews +reviews,[^ ]*reviews\.default\.svc\.cluster\.local[^ ]* +\/\* +outbound\|\d+\|\|reviews\.default\.svc\.cluster\.local/);
    const listeners = (await run(['proxy-config', 'listener', 'productpage-1'])).out;
    assert.match(listeners, new RegExp(`127\\.0\\.0\\.1 +${productpage.ports.upstreams.reviews} +upstream +every connection +reviews`));
    assert.match(listeners, new RegExp(`127\\.0\\.0\\.1 +${productpage.ports.admin} +admin`));
    const json = JSON.parse((await run(['proxy-config', 'listener', 'productpage-1', '-o', 'json'])).out) as { port: number; type: string }[];
    assert.ok(json.some((l) => l.type === 'inbound' && l.port === productpage.ports.inbound));
  });

  it('secret: the certificate the sidecar serves with, and the roots it trusts', async () => {
    const out = (await run(['proxy-config', 'secret', 'productpage-1'])).out;
    const serial = certificateInfo(productpage.identity!.certPem).serialHex;
    assert.match(out, new RegExp(`^default +Cert Chain +ACTIVE +${serial} +\\S+ +\\S+ +spiffe://cluster\\.local/ns/default/sa/productpage$`, 'm'));
    assert.match(out, /^ROOTCA +CA +ACTIVE /m);
  });

  it('refuses unknown kinds and proxies by name, and keeps the snapshot form', async () => {
    const bad = await run(['proxy-config', 'clusterz', 'productpage-1']);
    assert.equal(bad.code, 1);
    assert.match(bad.err, /unknown kind "clusterz"; use listener, route, cluster, endpoint, secret, all or snapshot/);
    const ghost = await run(['proxy-config', 'cluster', 'ghost']);
    assert.equal(ghost.code, 1);
    assert.match(ghost.err, /no proxy "ghost" has connected recently/);
    assert.match((await run(['proxy-config', 'productpage-1'])).out, /identity: spiffe:\/\/cluster\.local\/ns\/default\/sa\/productpage/);
  });

  it("takes a report from the proxy's own workload only, and only printable", async () => {
    const dump = productpage.configDump();
    const path = '/v1/proxies/productpage-1/config-dump';
    const asReviews = { cert: reviews.identity!.certPem, key: reviews.identity!.keyPem };
    const denied = await c.call('PUT', path, dump, asReviews);
    assert.equal(denied.status, 403);
    assert.match(denied.json().message, /may not report the state of proxy "productpage-1"/);
    const asProductpage = { cert: productpage.identity!.certPem, key: productpage.identity!.keyPem };
    const escaped = await c.call('PUT', path, { ...dump, listeners: [{ ...dump.listeners[0], destination: '\u001b[2J\u001b[31mowned' }] }, asProductpage);
    assert.equal(escaped.status, 422);
    assert.match(escaped.text, /listeners\[0\]\.destination/);
    assert.equal((await c.call('PUT', path, dump, asProductpage)).status, 204);
  });
});
