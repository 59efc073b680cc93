// The host agent's watch on the controller that holds its registrations, wired into the agent
// (MeshAgent.start): a VM-mode agent with its real file source and process runtime, linked to two
// controllers, registers its instance through the first; once the first is gone, the instance
// is registered through the second within seconds, although the agent's resync is ten minutes
// away. Twice: with two embedded controllers (they share an admin token, as controllers of one
// mesh do through Consul; each keeps its own registry, so the second's is where the new
// registration shows), and with two controllers on a real Consul datacentre whose first host is
// lost whole (controller and Consul agent), where the instance must be passing again on the
// second host's node.
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { MeshAgent } from '../../agent/agent.js';
import { UnitOwnedCapture } from '../../agent/capture.js';
import { HttpControllerLink } from '../../agent/controller-link.js';
import { ProcessSidecarRuntime } from '../../agent/runtime/process-runtime.js';
import { FileWorkloadSource } from '../../agent/sources/file-source.js';
import { startConsulCluster, type ClusterAgent, type ConsulCluster } from '../helpers/consul-cluster.js';
import { startController, type TestController } from '../helpers/controller.js';
import { startControllerProcess, type ControllerProcess } from '../helpers/controller-process.js';
import { freePort, waitFor } from '../helpers/ports.js';

const notRoot = process.getuid?.() !== 0 ? 'sidecars run as UID 1337, which needs root' : undefined;

/** A VM-mode host agent for one service file (web, served by `app`), linked to `controllers` with `token`. */
async function startHostAgent(controllers: { url: string; ca(): string }[], token: string, app: Server, dirs: string[]): Promise<{ agent: MeshAgent; runtime: ProcessSidecarRuntime }> {
  const configDir = mkdtempSync(join(tmpdir(), 'mesh-holder-conf-'));
  const stateDir = mkdtempSync(join(tmpdir(), 'mesh-holder-state-'));
  chmodSync(stateDir, 0o755);
  dirs.push(configDir, stateDir);
  const ports = { inboundPort: await freePort(), outboundPort: await freePort(), adminPort: await freePort(), statusPort: await freePort() };
  writeFileSync(
    join(configDir, 'web.yaml'),
    `name: web\nport: ${(app.address() as { port: number }).port}\nsidecar:\n  inboundPort: ${ports.inboundPort}\n  outboundPort: ${ports.outboundPort}\n  adminPort: ${ports.adminPort}\n  statusPort: ${ports.statusPort}\n`,
  );
  const link = new HttpControllerLink({ controller: controllers.map((c) => c.url).join(','), caPem: controllers.map((c) => c.ca()).join('\n'), token });
  const runtime = new ProcessSidecarRuntime({ stateDir, proxyUid: 1337, stopTimeoutMs: 3000 });
  const settings = { controllerUrl: link.url, proxyUid: 1337, trustDomain: 'cluster.local', excludeOutboundPorts: [], excludeOutboundCidrs: [], excludeInboundPorts: [] };
  const agent = new MeshAgent(
    new FileWorkloadSource({ dir: configDir, address: '127.0.0.1', instanceSuffix: 'h1' }),
    runtime,
    new UnitOwnedCapture(),
    link,
    { settings, resyncMs: 600_000, readyTimeoutMs: 30_000, holderCheckMs: 200 },
    pino({ level: process.env.MESH_TEST_LOG ?? 'silent' }),
  );
  await agent.start();
  return { agent, runtime };
}

describe('a host agent whose registrations move to the next controller', { skip: notRoot }, () => {
  let a: TestController;
  let b: TestController;
  let app: Server;
  let agent: MeshAgent;
  let runtime: ProcessSidecarRuntime;
  const dirs: string[] = [];

  before(async () => {
    const adminToken = 'shared-admin-token-of-this-test-0123456789';
    [a, b] = [await startController({ adminToken }), await startController({ adminToken })];
    app = createServer((_q, r) => r.end('app')).listen(0, '127.0.0.1');
    await new Promise((r) => app.once('listening', r));
    ({ agent, runtime } = await startHostAgent([a, b], adminToken, app, dirs));
  });

  after(async () => {
    await agent?.close();
    for (const s of (await runtime?.list()) ?? []) await runtime.remove(s);
    app?.close();
    for (const c of [a, b]) await c?.close().catch(() => undefined);
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('registers the instance again through the second controller once the first is gone', async () => {
    await waitFor('the instance at the first controller', () => a.controller.catalog.endpoints().has('default/web'), 30_000, 100);
    assert.equal(b.controller.catalog.endpoints().has('default/web'), false, 'the second controller has not seen it yet');
    // At once: the agent knows which controller took its registrations, even if its watch has
    // not looked yet.
    await a.close();
    await waitFor('the instance at the second controller', () => b.controller.catalog.endpoints().has('default/web'), 15_000, 100);
  });
});

describe('on Consul: a host agent whose registrations lived on a controller host that is lost whole', { skip: notRoot, timeout: 240_000 }, () => {
  let cluster: ConsulCluster;
  const hosts: Record<'a' | 'b', ClusterAgent> = {} as never;
  let a: ControllerProcess;
  let b: ControllerProcess;
  let app: Server;
  let agent: MeshAgent;
  let runtime: ProcessSidecarRuntime;
  const dirs: string[] = [];
  /** The nodes on which Consul's catalog has a passing instance of web, as host b's agent sees it. */
  const passingOn = async () => ((await hosts.b.client.health.service({ service: 'web', passing: true } as never)) as { Node: { Node: string } }[]).map((e) => e.Node.Node);

  before(async () => {
    cluster = await startConsulCluster();
    hosts.a = await cluster.addClient('host-a');
    hosts.b = await cluster.addClient('host-b');
    a = await startControllerProcess({ consul: hosts.a.address });
    b = await startControllerProcess({ consul: hosts.b.address });
    app = createServer((_q, r) => r.end('app')).listen(0, '127.0.0.1');
    await new Promise((r) => app.once('listening', r));
    // The first controller's admin token: its hash is shared through Consul, so the second accepts it too.
    ({ agent, runtime } = await startHostAgent([a, b], a.adminToken, app, dirs));
  });

  after(async () => {
    await agent?.close();
    for (const s of (await runtime?.list()) ?? []) await runtime.remove(s);
    app?.close();
    for (const c of [a, b]) await c?.close().catch(() => undefined);
    await cluster?.stop();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it("is passing again on the second host's node once the first host is lost", async () => {
    await waitFor('web passing on host-a', async () => (await passingOn()).includes('host-a'), 60_000, 200);
    assert.deepEqual(await passingOn(), ['host-a'], 'registered through the first controller only');
    // The whole host: its controller and its Consul agent, as abruptly as a power loss.
    await a.kill();
    await hosts.a.kill();
    await waitFor('web passing on host-b', async () => (await passingOn()).includes('host-b'), 60_000, 200);
  });
});
