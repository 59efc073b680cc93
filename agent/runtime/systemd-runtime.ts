// Sidecars as systemd units on a VM: `mesh-proxy@<instance>.service` (systemd/mesh-proxy@.service).
// The agent writes the instance's settings where the unit reads them, then starts the unit. The
// unit runs the sidecar as its own user; its ExecStartPost (as root) waits for the sidecar to be
// ready and installs the capture rules, its ExecStopPost removes them, so capture follows the
// sidecar's life even when the agent is away.
//
// A unit stopped or restarted on request (`systemctl stop|restart`) is held: its ExecStop leaves a
// mark in the run directory (agent/capture-command.ts), which the agent watches, so the instance
// is deregistered at once and the unit is not started again behind the person's back. Starting
// it (`systemctl start`) clears the mark once the sidecar is ready, and the agent registers it.
//
// Tested under a real systemd (PID 1 in containers) by test/e2e/vm-quickstart.test.ts.
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, watch, writeFileSync, type FSWatcher } from 'node:fs';
import { join } from 'node:path';
import type { AgentSettings, DiscoveredWorkload, RunningSidecar } from '../../core/agent/plan.js';
import { CAPTURE_SETTINGS, isStopping, STOPPING_SUFFIX, stoppingMark } from '../capture-command.js';
import { runCommand } from '../run-command.js';
import { MeshError } from '../../core/errors.js';
import type { SidecarLaunch, SidecarRuntime } from './runtime.js';

export interface SystemdRuntimeOptions {
  /** Where unit settings go (tmpfs: tokens do not outlive a reboot). */
  runDir: string;
  /** Left in <runDir>/capture.json for the units' capture commands. */
  capture: { configDir: string; instanceSuffix: string; settings: AgentSettings };
  /** Sidecar data directories: /var/lib/mesh-proxy/<instance> (the unit's StateDirectory). */
  dataRoot: string;
}

const unit = (instanceId: string) => `mesh-proxy@${instanceId}.service`;

export class SystemdSidecarRuntime implements SidecarRuntime {
  readonly kind = 'systemd';

  constructor(private readonly opts: SystemdRuntimeOptions) {
    mkdirSync(opts.runDir, { recursive: true, mode: 0o755 });
    writeFileSync(join(opts.runDir, CAPTURE_SETTINGS), JSON.stringify(opts.capture), { mode: 0o600 });
  }

  async list(): Promise<RunningSidecar[]> {
    const out: RunningSidecar[] = [];
    for (const name of readdirSync(this.opts.runDir).filter((n) => n.endsWith('.json') && n !== CAPTURE_SETTINGS && n !== 'captured.json')) {
      const rec = JSON.parse(readFileSync(join(this.opts.runDir, name), 'utf8')) as { instanceId: string; fingerprint: string };
      const state = (await systemctl(['is-active', unit(rec.instanceId)], true)).trim();
      // A unit in the middle of a job a person started (`systemctl restart` passes through
      // deactivating) is not a dead sidecar: starting it would cancel that job.
      const running = ['active', 'activating', 'deactivating', 'reloading'].includes(state);
      out.push({ instanceId: rec.instanceId, ref: rec.instanceId, fingerprint: rec.fingerprint, running, held: isStopping(this.opts.runDir, rec.instanceId) });
    }
    return out;
  }

  /** A unit stopping on request, or ready again after one: the agent reacts at once. */
  watch(changed: () => void): { close(): void } {
    const watcher: FSWatcher = watch(this.opts.runDir, (_event, name) => {
      if (name?.endsWith(STOPPING_SUFFIX)) changed();
    });
    watcher.on('error', () => undefined);
    return watcher;
  }

  async start(w: DiscoveredWorkload, launch: SidecarLaunch): Promise<RunningSidecar> {
    const base = join(this.opts.runDir, w.instanceId);
    writeFileSync(`${base}.ca.pem`, launch.env.MESH_PROXY_CA_PEM ?? '', { mode: 0o644 });
    const env: Record<string, string> = { ...argsToEnv(launch.args), MESH_PROXY_CA_FILE: `${base}.ca.pem`, MESH_PROXY_DATA_DIR: join(this.opts.dataRoot, w.instanceId) };
    for (const [k, v] of Object.entries(launch.env)) if (k !== 'MESH_PROXY_CA_PEM') env[k] = v;
    // Read by systemd as root before it drops to the sidecar's user: the token stays private.
    writeFileSync(
      `${base}.env`,
      Object.entries(env)
        .map(([k, v]) => `${k}=${quote(v)}`)
        .join('\n') + '\n',
      { mode: 0o600 },
    );
    writeFileSync(`${base}.json`, JSON.stringify({ instanceId: w.instanceId, fingerprint: launch.fingerprint }), { mode: 0o644 });
    // --no-block: the unit's ExecStartPost waits for readiness; the agent watches it itself.
    await systemctl(['start', '--no-block', unit(w.instanceId)]);
    return { instanceId: w.instanceId, ref: w.instanceId, fingerprint: launch.fingerprint, running: true };
  }

  async logs(s: RunningSidecar): Promise<string> {
    return run('journalctl', ['-u', unit(s.ref), '-n', '20', '--no-pager', '-o', 'cat'], true);
  }

  async remove(s: RunningSidecar): Promise<void> {
    await systemctl(['stop', unit(s.ref)], true);
    for (const ext of ['.env', '.ca.pem', '.json']) rmSync(join(this.opts.runDir, `${s.ref}${ext}`), { force: true });
    rmSync(stoppingMark(this.opts.runDir, s.ref), { force: true });
  }

  static available(): boolean {
    return existsSync('/run/systemd/system');
  }
}

/** `--app-port 9080` -> MESH_PROXY_APP_PORT=9080: mesh-proxy reads MESH_PROXY_* (yargs .env). */
export function argsToEnv(args: string[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (let i = 0; i < args.length; i += 2) {
    const flag = args[i];
    if (!flag.startsWith('--') || i + 1 >= args.length) throw new MeshError('INTERNAL', `cannot pass "${flag}" to a systemd unit: flags must come as --name value pairs`);
    env[`MESH_PROXY_${flag.slice(2).toUpperCase().replace(/-/g, '_')}`] = args[i + 1];
  }
  return env;
}

function quote(v: string): string {
  return /^[A-Za-z0-9_./:@=,+-]*$/.test(v) ? v : `"${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

async function systemctl(args: string[], allowFailure = false): Promise<string> {
  return run('systemctl', args, allowFailure);
}

async function run(cmd: string, args: string[], allowFailure: boolean): Promise<string> {
  const r = await runCommand(cmd, args);
  if (r.code !== 0 && !allowFailure) throw new MeshError('UNAVAILABLE', `${cmd} ${args.join(' ')} failed: ${(r.stderr || r.stdout).trim()}`);
  return r.stdout;
}
