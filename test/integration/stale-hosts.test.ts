// Leader work on a real Consul datacentre: the mesh instances of a host that is gone (its Consul
// agent failed, so nothing reaps them) leave the catalog once the host has been failed for
// --stale-host-after; other services of that host are left alone. A host that was only cut off
// for longer than that gets them back when it returns, with nobody acting.
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

  /** The service ids the catalog holds on `node`, as the servers see them. */
  const servicesOn = async (node: string): Promise<string[]> =>
    Object.keys(((await cluster.servers[0].client.catalog.node.services(node)) as { Services?: Record<string, unknown> } | null)?.Services ?? {});

  it('come back by themselves when a host cut off for longer than that returns (its Consul agent syncs them again)', async () => {
    const cutOff = await cluster.addClient('partitioned-host');
    await new ConsulAgentRegistrar(cutOff.client).register({ id: 'ratings-1', service: 'ratings', address: '127.0.0.1', port: 9080 });
    const inCatalog = () => servicesOn('partitioned-host');
    await waitFor('ratings in the catalog', async () => (await inCatalog()).includes('ratings-1'), 20_000, 200);
    cutOff.pause();
    try {
      await waitFor('the leader to deregister the instance of the failed host', async () => !(await inCatalog()).includes('ratings-1'), 40_000, 200);
    } finally {
      cutOff.resume();
    }
    const routable = async () =>
      ((await controller.call('GET', '/v1/services')).json().services as { name: string; instances: unknown[] }[]).some((x) => x.name === 'ratings' && x.instances.length === 1);
    await waitFor('the returned host to register it again, and the controller to route to it', async () => (await inCatalog()).includes('ratings-1') && (await routable()), 120_000, 500);
  });

  it('are deregistered by the leader once their host has been failed for a while, and only they', async () => {
    const server = cluster.servers[0].client;
    const held = async () => (await servicesOn('workload-host')).sort();
    await waitFor('both services in the catalog', async () => JSON.stringify(await held()) === JSON.stringify(['other-1', 'reviews-1']), 20_000, 200);
    await host.kill();
    const failed = async () => ((await server.health.node('workload-host')) as { CheckID: string; Status: string }[]).some((c) => c.CheckID === 'serfHealth' && c.Status === 'critical');
    await waitFor('Consul to mark the host failed', failed, 30_000, 200);
    await waitFor('the mesh instance to leave the catalog', async () => JSON.stringify(await held()) === JSON.stringify(['other-1']), 20_000, 200);
  });
});
