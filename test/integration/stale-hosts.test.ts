// Leader work on a real Consul datacentre: the mesh instances of a host that is gone (its Consul
// agent failed, so nothing reaps them) leave the catalog once the host has been failed for
// --stale-host-after; other services of that host are left alone.
import { after, before, describe, it } from 'node:test';
import { ConsulAgentRegistrar } from '../../common/consul-registration.js';
import { startConsulCluster, type ClusterAgent, type ConsulCluster } from '../helpers/consul-cluster.js';
import { startController, type TestController } from '../helpers/controller.js';
import { waitFor } from '../helpers/ports.js';

describe('instances of hosts that are gone', () => {
  let cluster: ConsulCluster;
  let host: ClusterAgent;
  let controller: TestController;

  before(async () => {
    cluster = await startConsulCluster();
    host = await cluster.addClient('workload-host');
    await new ConsulAgentRegistrar(host.client).register({ id: 'reviews-1', service: 'reviews', address: '127.0.0.1', port: 9080 });
    await host.client.agent.service.register({ id: 'other-1', name: 'other', port: 9999 } as never);
    controller = await startController({ consul: cluster.servers[0].address, staleHostAfter: '2s' });
  });

  after(async () => {
    await controller?.close();
    await cluster?.stop();
  });

  it('are deregistered by the leader once their host has been failed for a while, and only they', async () => {
    const server = cluster.servers[0].client;
    const held = async () => Object.keys(((await server.catalog.node.services('workload-host')) as { Services?: Record<string, unknown> } | null)?.Services ?? {}).sort();
    await waitFor('both services in the catalog', async () => JSON.stringify(await held()) === JSON.stringify(['other-1', 'reviews-1']), 20_000, 200);
    await host.kill();
    const failed = async () => ((await server.health.node('workload-host')) as { CheckID: string; Status: string }[]).some((c) => c.CheckID === 'serfHealth' && c.Status === 'critical');
    await waitFor('Consul to mark the host failed', failed, 30_000, 200);
    await waitFor('the mesh instance to leave the catalog', async () => JSON.stringify(await held()) === JSON.stringify(['other-1']), 20_000, 200);
  });
});
