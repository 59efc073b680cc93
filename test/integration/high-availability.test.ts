// The mesh keeps working through the losses a datacentre sees, under steady traffic: a real
// Consul datacentre (three servers, and a client agent on each host), two controllers on two
// hosts, and a workload whose host agent registers it with its own host's Consul agent
// (mesh-agent --consul-agent). In turn: the Consul leader is killed, then a controller, then the
// other controller's whole host (controller and Consul agent). After each loss, config applied at
// a surviving controller reaches the sidecars, certificates keep renewing (one-minute leaves),
// the workload stays routable, and no request fails. The controllers are processes of their own,
// killed with SIGKILL as a crash or a lost host ends them: no drain, their sockets simply close.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ConsulAgentRegistrar } from '../../common/consul-registration.js';
import { certificateInfo } from '../../core/pki/certificate-info.js';
import type { Sidecar } from '../../proxy/sidecar.js';
import { get, startApp, type TestApp } from '../helpers/apps.js';
import { startConsulCluster, type ClusterAgent, type ConsulCluster } from '../helpers/consul-cluster.js';
import { startControllerProcess, type ControllerProcess } from '../helpers/controller-process.js';
import { waitFor } from '../helpers/ports.js';
import { startSidecar } from '../helpers/sidecar.js';

describe('high availability under steady traffic', { timeout: 240_000 }, () => {
  let cluster: ConsulCluster;
  const hosts: Record<'a' | 'b' | 'workload', ClusterAgent> = {} as never;
  const controllers: ControllerProcess[] = [];
  let a: ControllerProcess;
  let b: ControllerProcess;
  let app: TestApp;
  let reviews: Sidecar;
  let productpage: Sidecar;
  const traffic = { ok: 0, failed: [] as string[], running: true, done: Promise.resolve() };
  const serial = (s: Sidecar) => certificateInfo(s.identity!.certPem).serialHex;

  before(async () => {
    cluster = await startConsulCluster();
    hosts.a = await cluster.addClient('host-a');
    hosts.b = await cluster.addClient('host-b');
    hosts.workload = await cluster.addClient('host-workload');
    a = await startControllerProcess({ consul: hosts.a.address, leafTtl: '1m' });
    b = await startControllerProcess({ consul: hosts.b.address, leafTtl: '1m' });
    controllers.push(a, b);
    app = await startApp('reviews-v1');
    const both = { controller: `${a.url},${b.url}`, certRenewAt: 0.1 };
    reviews = await startSidecar(a, 'reviews', app.port, both);
    // As mesh-agent --consul-agent does on the workload's host: the registration lives there.
    await new ConsulAgentRegistrar(hosts.workload.client).register({
      id: 'reviews-1',
      service: 'reviews',
      address: '127.0.0.1',
      port: app.port,
      labels: { version: 'v1' },
      sidecar: { inboundPort: reviews.ports.inbound },
    });
    productpage = await startSidecar(a, 'productpage', 1, { ...both, proxyId: 'productpage-1', upstreams: [{ port: 0, service: 'reviews' }] });
    await waitFor('reviews at productpage', () => productpage.snapshot?.outbound.services.find((s) => s.name === 'reviews')?.clusters[0]?.endpoints.length === 1, 20_000, 100);
    // Steady traffic from here to the end: one request every 20 ms, each failure recorded.
    traffic.done = (async () => {
      while (traffic.running) {
        const r = await get(productpage.ports.upstreams.reviews, '/', { host: 'reviews' }).catch((e: Error) => ({ status: 0, body: e.message }));
        if (r.status === 200) traffic.ok++;
        else traffic.failed.push(`${r.status} ${String(r.body).slice(0, 80)}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
  });

  after(async () => {
    traffic.running = false;
    await traffic.done;
    for (const s of [productpage, reviews]) await s?.close();
    await app?.close();
    for (const c of controllers) await c.close().catch(() => undefined);
    await cluster?.stop();
  });

  /** Applies a route that marks its answers with `step` at controller `c`, and waits until productpage's answers carry it. */
  async function routeReaches(c: ControllerProcess, step: string): Promise<void> {
    const applied = await c.call('POST', '/v1/apply', {
      apiVersion: 'networking.istio.io/v1',
      kind: 'VirtualService',
      metadata: { name: 'reviews', namespace: 'default' },
      spec: { hosts: ['reviews'], http: [{ headers: { response: { set: { 'x-step': step } } }, route: [{ destination: { host: 'reviews' } }] }] },
    });
    assert.equal(applied.status, 200, applied.text);
    await waitFor(`the route of step "${step}" at productpage`, async () => (await get(productpage.ports.upstreams.reviews, '/', { host: 'reviews' })).headers['x-step'] === step, 60_000, 200);
  }

  async function certificatesRenew(): Promise<void> {
    const before = { productpage: serial(productpage), reviews: serial(reviews) };
    await waitFor('both sidecars to renew their certificates', () => serial(productpage) !== before.productpage && serial(reviews) !== before.reviews, 30_000, 200);
  }

  it('loses the Consul leader, a controller, then a controller host, and no request fails', async () => {
    await routeReaches(a, 'start');

    // 1. The Consul leader dies; the servers elect another.
    const leader = await cluster.leader(hosts.a);
    assert.ok(leader, 'a leader is known');
    await leader.kill();
    await waitFor('a new Consul leader', async () => (await cluster.leader(hosts.a)) !== undefined, 30_000, 200);
    await routeReaches(b, 'after-consul-leader');

    // 2. Controller a dies; the sidecars take config and certificates from b.
    const aPort = new URL(a.url).port;
    await a.kill();
    await routeReaches(b, 'after-controller-a');
    await certificatesRenew();

    // 3. a comes back on its address; then b's whole host goes: controller b and its Consul agent.
    a = await startControllerProcess({ consul: hosts.a.address, leafTtl: '1m', listen: `127.0.0.1:${aPort}` });
    controllers.push(a);
    await b.kill();
    await hosts.b.kill();
    // Until Consul has noticed the host is gone, what it held still looks healthy: wait for that.
    await waitFor(
      'Consul to mark host-b failed',
      async () => ((await hosts.a.client.health.node('host-b')) as { CheckID: string; Status: string }[]).some((c) => c.CheckID === 'serfHealth' && c.Status === 'critical'),
      60_000,
      200,
    );
    await routeReaches(a, 'after-host-b');
    await certificatesRenew();

    // The workload's registration, held by its own host's agent, never went critical.
    const passing = (await hosts.a.client.health.service({ service: 'reviews', passing: true } as never)) as unknown[];
    assert.equal(passing.length, 1, 'reviews is still passing in Consul');
    assert.equal(traffic.failed.length, 0, `failed requests: ${traffic.failed.slice(0, 5).join('; ')}`);
    assert.ok(traffic.ok > 100, `${traffic.ok} requests succeeded`);
  });
});
