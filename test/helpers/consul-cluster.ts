// A real Consul datacentre on loopback for one test file: three servers (Raft, one leader) and
// client agents (the agents every host of a Consul datacentre runs), each a process of its own
// with every port chosen free. Elections run at Consul's fastest timing (raft_multiplier 1).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Consul from 'consul';
import { consulBinary } from './consul.js';
import { freePort, waitFor } from './ports.js';

/** Agents still running: killed when this process exits, whatever way it ends, so none is left behind. */
const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of running) c.kill('SIGKILL');
});

export interface ClusterAgent {
  node: string;
  /** host:port of its HTTP API, as --consul takes it. */
  address: string;
  client: Consul;
  /** SIGKILL: as abrupt as the host's loss. */
  kill(): Promise<void>;
  /** SIGSTOP and SIGCONT: a host cut off by a partition (it answers nobody) and back. */
  pause(): void;
  resume(): void;
  alive(): boolean;
}

export interface ConsulCluster {
  servers: ClusterAgent[];
  /** A client agent joined to the servers: a host of the datacentre. */
  addClient(node: string): Promise<ClusterAgent>;
  /** The server that leads now, as the given agent sees it. */
  leader(via: ClusterAgent): Promise<ClusterAgent | undefined>;
  stop(): Promise<void>;
}

/** `httpMaxConnsPerClient`: Consul's limits.http_max_conns_per_client on every agent (200 by default). */
export async function startConsulCluster(opts: { httpMaxConnsPerClient?: number } = {}): Promise<ConsulCluster> {
  const bin = consulBinary();
  const dir = mkdtempSync(join(tmpdir(), 'mesh-consul-cluster-'));
  const config = join(dir, 'fast.json');
  const limits = opts.httpMaxConnsPerClient ? { limits: { http_max_conns_per_client: opts.httpMaxConnsPerClient } } : {};
  writeFileSync(config, JSON.stringify({ performance: { raft_multiplier: 1 }, leave_on_terminate: false, ...limits }));
  const agents: (ClusterAgent & { serverPort?: number; serfLan: number })[] = [];

  const portsFor = async () => ({ http: await freePort(), serfLan: await freePort(), serfWan: await freePort(), server: await freePort() });
  const launch = async (node: string, server: boolean, join_: number[], ports: Awaited<ReturnType<typeof portsFor>>) => {
    const args = [
      'agent',
      `-node=${node}`,
      '-bind=127.0.0.1',
      '-client=127.0.0.1',
      `-data-dir=${join(dir, node)}`,
      `-config-file=${config}`,
      '-log-level=warn',
      `-http-port=${ports.http}`,
      '-dns-port=-1',
      '-grpc-port=-1',
      `-serf-lan-port=${ports.serfLan}`,
      ...(server ? ['-server', '-bootstrap-expect=3', `-serf-wan-port=${ports.serfWan}`, `-server-port=${ports.server}`] : []),
      // Joins are retried every second (Consul's default is every 30 s): whoever starts first waits for the others.
      '-retry-interval=1s',
      ...join_.map((p) => `-retry-join=127.0.0.1:${p}`),
    ];
    const child: ChildProcess = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    running.add(child);
    child.once('exit', () => running.delete(child));
    let stderr = '';
    const keep = (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000));
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    const agent = {
      node,
      address: `127.0.0.1:${ports.http}`,
      client: new Consul({ host: '127.0.0.1', port: ports.http }),
      serfLan: ports.serfLan,
      serverPort: server ? ports.server : undefined,
      alive: () => child.exitCode === null && child.signalCode === null,
      kill: async () => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        const gone = new Promise((r) => child.once('exit', r));
        child.kill('SIGKILL');
        await gone;
      },
      pause: () => void child.kill('SIGSTOP'),
      resume: () => void child.kill('SIGCONT'),
      stderr: () => stderr,
    };
    agents.push(agent);
    return agent;
  };

  const serverPorts = [await portsFor(), await portsFor(), await portsFor()];
  const servers: Awaited<ReturnType<typeof launch>>[] = [];
  for (let i = 0; i < 3; i++)
    servers.push(
      await launch(
        `server-${i + 1}`,
        true,
        serverPorts.filter((_, j) => j !== i).map((p) => p.serfLan),
        serverPorts[i],
      ),
    );
  const s1 = servers[0];
  const stopAll = async () => {
    for (const a of agents) await a.kill();
    rmSync(dir, { recursive: true, force: true });
  };
  await waitFor('the three Consul servers to elect a leader', async () => Boolean(await s1.client.status.leader().catch(() => '')), 30_000, 200).catch(async (err: Error) => {
    const said = servers.map((s) => `${s.node}: ${s.stderr().slice(-1500)}`).join('\n');
    await stopAll();
    throw new Error(`${err.message}\n${said}`);
  });
  const cluster: ConsulCluster = {
    servers,
    addClient: async (node) => {
      const c = await launch(
        node,
        false,
        servers.filter((s) => s.alive()).map((s) => s.serfLan),
        await portsFor(),
      );
      await waitFor(`Consul client ${node} to join`, async () => Boolean(await c.client.status.leader().catch(() => '')), 20_000, 100);
      return c;
    },
    leader: async (via) => {
      const addr = (await via.client.status.leader().catch(() => '')) as string;
      const port = Number(addr.split(':')[1]);
      return servers.find((s) => s.serverPort === port && s.alive());
    },
    stop: stopAll,
  };
  return cluster;
}
