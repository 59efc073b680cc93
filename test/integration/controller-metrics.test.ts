// The controller's /metrics, as Istio's control-plane dashboard reads istiod's: a real sidecar
// connects and gets pushes, a resource is applied and one refused, a certificate is signed; each
// shows in the series under istiod's names.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Sidecar } from '../../proxy/sidecar.js';
import { startApp, type TestApp } from '../helpers/apps.js';
import { startController, type TestController } from '../helpers/controller.js';
import { waitFor } from '../helpers/ports.js';
import { startSidecar } from '../helpers/sidecar.js';

describe('control-plane metrics', () => {
  let c: TestController;
  let app: TestApp;
  let sidecar: Sidecar;

  before(async () => {
    c = await startController();
    app = await startApp('reviews');
    sidecar = await startSidecar(c, 'reviews', app.port);
    const registered = await c.call('POST', '/v1/catalog/instances', { id: 'reviews-1', service: 'reviews', address: '127.0.0.1', port: app.port, sidecar: { inboundPort: sidecar.ports.inbound } });
    assert.ok(registered.status < 300, registered.text);
  });

  after(async () => {
    await sidecar?.close();
    await app?.close();
    await c?.close();
  });

  const value = (text: string, series: RegExp) => Number(new RegExp(`^${series.source} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);

  it("serves istiod's series: build, pushes and their timing, connected proxies, config events, certificates", async () => {
    const applied = await c.call('POST', '/v1/apply', {
      apiVersion: 'networking.istio.io/v1',
      kind: 'VirtualService',
      metadata: { name: 'reviews', namespace: 'default' },
      spec: { hosts: ['reviews'], http: [{ timeout: '2s', route: [{ destination: { host: 'reviews' } }] }] },
    });
    assert.ok(applied.status < 300, applied.text);
    await waitFor('the route at the sidecar', () => sidecar.snapshot?.outbound.services.find((s) => s.name === 'reviews')?.httpRoutes[0]?.timeoutMs === 2000, 5000);
    const refused = await c.call('POST', '/v1/apply', { apiVersion: 'networking.istio.io/v1', kind: 'VirtualService', metadata: { name: 'bad' }, spec: { hosts: [] } });
    assert.equal(refused.status, 422);

    const res = await c.call('GET', '/metrics', undefined, null);
    assert.equal(res.status, 200);
    assert.match(String(res.headers['content-type']), /^text\/plain/);
    const text = res.text;
    assert.equal(value(text, /istio_build\{component="pilot",tag="[^"]+"\}/), 1);
    assert.ok(value(text, /pilot_xds_pushes\{type="snapshot"\}/) >= 2, 'the first snapshot and the one with the route');
    assert.equal(value(text, /pilot_xds\{version="[^"]+"\}/), 1, 'one proxy');
    assert.ok(value(text, /pilot_proxy_convergence_time_count/) >= 2);
    assert.ok(value(text, /pilot_xds_push_time_count/) >= 2);
    assert.ok(value(text, /pilot_xds_config_size_bytes_sum/) > 100);
    assert.equal(value(text, /pilot_k8s_cfg_events\{type="VirtualService",event="add"\}/), 1);
    assert.equal(value(text, /pilot_total_xds_rejects\{type="validation"\}/), 1);
    assert.ok(value(text, /pilot_push_triggers\{type="config"\}/) >= 1);
    assert.ok(value(text, /pilot_push_triggers\{type="endpoint"\}/) >= 1);
    assert.equal(value(text, /pilot_k8s_reg_events\{type="Endpoints",event="add"\}/), 1);
    assert.equal(value(text, /citadel_server_csr_count/), 1);
    assert.equal(value(text, /citadel_server_success_cert_issuance_count/), 1);
    assert.ok(value(text, /process_cpu_seconds_total/) > 0, "Node's process metrics");
    assert.match(sidecar.metricsText(), /^istio_build\{component="proxy",tag="[^"]+"\} 1$/m, 'the sidecar reports its build too');
  });
});
