// A real `mesh-controller` process, as systemd runs it: for tests whose question is what the mesh
// does when a controller dies without a word (SIGKILL: no drain, its sockets closed by the kernel),
// which a controller in the test's process cannot show.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { apiCall, type ControllerHandle } from './controller.js';
import { freePort } from './ports.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '../../..');

/** Killed when the test process exits, however it ends. */
const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

export interface ControllerProcess extends ControllerHandle {
  child: ChildProcess;
  /** SIGKILL, and waits for the exit. */
  kill(): Promise<void>;
  /** What it wrote to stderr (its JSON log). */
  output(): string;
}

export interface ControllerProcessOptions {
  /** host:port of its Consul agent. */
  consul: string;
  /** `--leaf-ttl`. */
  leafTtl?: string;
  /** host:port to listen on; a free port on 127.0.0.1 by default. */
  listen?: string;
}

export async function startControllerProcess(o: ControllerProcessOptions): Promise<ControllerProcess> {
  const dataDir = mkdtempSync(join(tmpdir(), 'mesh-ctlp-'));
  const listen = o.listen ?? `127.0.0.1:${await freePort()}`;
  const args = [join(root, 'dist/controller/main.js'), '--data-dir', dataDir, '--listen', listen, '--consul', o.consul, '--log-level', 'warn', '--drain-timeout', '1s'];
  if (o.leafTtl) args.push('--leaf-ttl', o.leafTtl);
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  running.add(child);
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  void exited.then(() => running.delete(child));
  // The address file is written once the API listens.
  const deadline = Date.now() + 30_000;
  while (!existsSync(join(dataDir, 'controller-address'))) {
    if (child.exitCode !== null) throw new Error(`the controller exited with ${child.exitCode}: ${stderr.slice(-2000)}`);
    if (Date.now() > deadline) throw new Error(`the controller did not listen within 30 s: ${stderr.slice(-2000)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const url = readFileSync(join(dataDir, 'controller-address'), 'utf8').trim();
  const adminToken = readFileSync(join(dataDir, 'admin-token'), 'utf8').trim();
  const ca = () => readFileSync(join(dataDir, 'ca.pem'), 'utf8');
  const stop = async (signal: NodeJS.Signals) => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    await exited;
  };
  return {
    child,
    url,
    dataDir,
    adminToken,
    ca,
    call: (method, path, body, auth = { token: adminToken }) => apiCall(url, ca(), method, path, body, auth),
    close: () => stop('SIGTERM'),
    kill: () => stop('SIGKILL'),
    output: () => stderr,
  };
}
