// A real `mesh-proxy` process, as the agent runs it: for tests whose question is whether the
// sidecar process survives (an in-process sidecar's crash would be caught by the test runner).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ControllerHandle } from './controller.js';
import { freePort, waitFor } from './ports.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '../../..');

export interface ProxyProcess {
  child: ChildProcess;
  ports: { inbound: number; admin: number; status: number; upstreams: Record<string, number> };
  /** Still running: it has not exited. */
  alive(): boolean;
  /** What it wrote to stderr (its JSON log). */
  output(): string;
  /** What it wrote to stdout: its access log, one JSON object per line. */
  accessLog(): Record<string, unknown>[];
  /** Its snapshot, from its admin port. */
  configDump(): Promise<any>;
  stop(): Promise<void>;
}

type ProxyProcessOptions = { upstreams?: string[]; args?: string[]; logLevel?: string; bind?: string };

/**
 * Ports are chosen free and handed to the process, and a test running beside this one may take
 * one of them in between: a start that fails with EADDRINUSE is made again on other ports.
 */
export async function startProxyProcess(c: ControllerHandle, service: string, appPort: number, opts: ProxyProcessOptions = {}): Promise<ProxyProcess> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(c, service, appPort, opts);
    } catch (err) {
      if (attempt >= 3 || !/EADDRINUSE/.test((err as Error).message)) throw err;
    }
  }
}

async function startOnce(c: ControllerHandle, service: string, appPort: number, opts: ProxyProcessOptions): Promise<ProxyProcess> {
  const token = (await c.call('POST', '/v1/tokens', { service })).json().token;
  const ports = { inbound: await freePort(), admin: await freePort(), status: await freePort(), upstreams: {} as Record<string, number> };
  // (free on 127.0.0.1; another loopback address shares the port space)
  const upstreamArgs: string[] = [];
  for (const u of opts.upstreams ?? []) {
    ports.upstreams[u] = await freePort();
    upstreamArgs.push('--upstream', `${u}=${ports.upstreams[u]}`);
  }
  const args = [
    join(root, 'dist/proxy/main.js'),
    '--controller',
    c.url,
    '--bootstrap-token',
    token,
    '--service',
    service,
    '--proxy-id',
    `${service}-1`,
    '--data-dir',
    mkdtempSync(join(tmpdir(), `mesh-pp-${service}-`)),
    '--app-port',
    String(appPort),
    '--bind',
    opts.bind ?? '127.0.0.1',
    '--inbound-port',
    String(ports.inbound),
    '--outbound-port',
    '-1',
    '--admin-port',
    String(ports.admin),
    '--status-port',
    String(ports.status),
    '--drain-timeout',
    '1s',
    '--log-level',
    opts.logLevel ?? 'warn',
    ...upstreamArgs,
    ...(opts.args ?? []),
  ];
  const child = spawn(process.execPath, args, { env: { ...process.env, MESH_PROXY_CA_PEM: c.ca() }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let stdout = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d));
  let exited = false;
  child.stderr!.on('data', (d: Buffer) => (out += d));
  child.once('exit', () => (exited = true));
  const proc: ProxyProcess = {
    child,
    ports,
    alive: () => !exited,
    output: () => out,
    accessLog: () =>
      stdout
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Record<string, unknown>),
    configDump: async () => (await fetch(`http://127.0.0.1:${ports.admin}/config_dump`)).json(),
    stop: async () => {
      if (exited) return;
      const gone = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await gone;
    },
  };
  // A process that exits while starting fails the start at once, with what it said ('close': its output is all read).
  const closedEarly = new Promise<never>((_, reject) => child.once('close', () => reject(new Error(`mesh-proxy exited: ${out}`))));
  closedEarly.catch(() => undefined);
  const ready = waitFor(
    `the ${service} sidecar process to be ready`,
    async () => !exited && (await fetch(`http://${opts.bind ?? '127.0.0.1'}:${ports.status}/healthz/ready`).catch(() => undefined))?.status === 200,
    15_000,
  );
  ready.catch(() => undefined); // after an early exit it runs out alone
  try {
    await Promise.race([closedEarly, ready]);
  } catch (err) {
    await proc.stop();
    throw err;
  }
  return proc;
}
