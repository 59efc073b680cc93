// Starts a real Consul agent (dev mode, loopback only, every port chosen free) for a test file.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Consul from 'consul';
import { freePort, waitFor } from './ports.js';

export interface ConsulAgent {
  address: string;
  httpPort: number;
  client: Consul;
  /** Stops the agent (SIGKILL: as abrupt as a crash or a cut network). */
  stop(): Promise<void>;
  /** Starts it again on the same ports (dev mode: with empty state). */
  restart(): Promise<void>;
  /** Freezes it (SIGSTOP): connections are accepted by the kernel and never answered, as a hung Consul's. Resolves once it has stopped. */
  pause(): Promise<void>;
  /** Lets it run again (SIGCONT). */
  resume(): void;
}

export function consulBinary(): string {
  const r = spawnSync('consul', ['version'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) throw new Error('consul is not installed: run `bash scripts/install-test-deps.sh` (the tests use a real Consul agent)');
  return 'consul';
}

/** `hcl`: agent configuration on top of -dev (e.g. `limits { http_max_conns_per_client = 40 }`). */
export async function startConsul(opts: { hcl?: string } = {}): Promise<ConsulAgent> {
  const bin = consulBinary();
  const freshPorts = async () => ({ http: await freePort(), dns: await freePort(), serfLan: await freePort(), serfWan: await freePort(), server: await freePort(), grpc: await freePort() });
  let ports = await freshPorts();
  let child: ChildProcess | undefined;
  let dataDir = '';
  const launchOnce = async (): Promise<'up' | 'port taken'> => {
    dataDir = mkdtempSync(join(tmpdir(), 'mesh-consul-'));
    const agent = spawn(
      bin,
      [
        'agent',
        '-dev',
        '-bind=127.0.0.1',
        '-client=127.0.0.1',
        `-data-dir=${dataDir}`,
        '-log-level=warn',
        `-http-port=${ports.http}`,
        `-dns-port=${ports.dns}`,
        `-serf-lan-port=${ports.serfLan}`,
        `-serf-wan-port=${ports.serfWan}`,
        `-server-port=${ports.server}`,
        `-grpc-port=${ports.grpc}`,
        ...(opts.hcl ? [`-hcl=${opts.hcl}`] : []),
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    child = agent;
    let said = '';
    // Consul logs to stdout, errors included.
    const keep = (d: Buffer) => (said = (said + d.toString()).slice(-4000));
    agent.stdout?.on('data', keep);
    agent.stderr?.on('data', keep);
    const closed = new Promise((r) => agent.once('close', r));
    const exited = () => agent.exitCode !== null || agent.signalCode !== null;
    // A probe that gives up: a port taken by another process may accept and never answer.
    const leader = async () => {
      const r = await fetch(`http://127.0.0.1:${ports.http}/v1/status/leader`, { signal: AbortSignal.timeout(1000) });
      return r.ok && Boolean(await r.json());
    };
    // An agent that exits while starting is not waited for: its ports were picked free a moment
    // ago, and a test running beside this one may have bound one of them since.
    await waitFor(`Consul on port ${ports.http} to elect itself leader`, async () => exited() || (await leader()), 30_000, 100).catch((err: Error) => {
      agent.kill('SIGKILL');
      throw new Error(`${err.message}; Consul said: ${said.trim()}`);
    });
    if (!exited()) return 'up';
    await closed; // all it printed has been read
    rmSync(dataDir, { recursive: true, force: true });
    if (/address already in use/i.test(said)) return 'port taken';
    throw new Error(`Consul exited while starting (code ${agent.exitCode ?? agent.signalCode}): ${said.trim()}`);
  };
  const launch = async () => {
    for (let attempt = 1; ; attempt++) {
      if ((await launchOnce()) === 'up') return;
      if (attempt === 3) throw new Error('Consul could not bind its ports three times over: another process keeps taking them');
      ports = await freshPorts();
    }
  };
  await launch();
  const stop = async () => {
    const c = child;
    child = undefined;
    if (!c || c.exitCode !== null) return;
    const exited = new Promise((r) => c.once('exit', r));
    c.kill('SIGKILL');
    await exited;
    rmSync(dataDir, { recursive: true, force: true });
  };
  return {
    address: `127.0.0.1:${ports.http}`,
    httpPort: ports.http,
    client: new Consul({ host: '127.0.0.1', port: ports.http }),
    stop,
    pause: async () => {
      const c = child;
      if (!c?.pid) return;
      c.kill('SIGSTOP');
      // The signal takes effect when each of its threads next runs: on a busy machine, not at once.
      await waitFor('Consul to stop', () => /^\S+ \(.*\) T /.test(readFileSync(`/proc/${c.pid}/stat`, 'utf8')), 2000, 5);
    },
    resume: () => void child?.kill('SIGCONT'),
    restart: async () => {
      await stop();
      // Same ports, or the test's clients would lose it.
      if ((await launchOnce()) !== 'up') throw new Error(`Consul could not bind its ports again on restart (HTTP ${ports.http})`);
    },
  };
}
