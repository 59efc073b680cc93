// Sidecars as processes on a VM, started by the agent under the proxy's own UID and detached, so
// that an agent restart leaves them running. Each has a directory under the state directory with
// its certificate store, its output, and a record the restarted agent adopts it from.
import { spawn } from 'node:child_process';
import { chownSync, closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SIDECAR_NODE_FLAGS } from '../../common/sidecar-process.js';
import type { DiscoveredWorkload, RunningSidecar } from '../../core/agent/plan.js';
import type { SidecarLaunch, SidecarRuntime } from './runtime.js';

const PROXY_MAIN = new URL('../../proxy/main.js', import.meta.url).pathname;
const RECORD = 'sidecar.json';

interface SidecarRecord {
  instanceId: string;
  pid: number;
  fingerprint: string;
}

export interface ProcessRuntimeOptions {
  stateDir: string;
  proxyUid: number;
  /** Seconds a stopping sidecar gets to drain before it is killed. */
  stopTimeoutMs?: number;
}

export class ProcessSidecarRuntime implements SidecarRuntime {
  readonly kind = 'process';

  constructor(private readonly opts: ProcessRuntimeOptions) {
    mkdirSync(opts.stateDir, { recursive: true, mode: 0o755 });
  }

  async list(): Promise<RunningSidecar[]> {
    const out: RunningSidecar[] = [];
    for (const name of readdirSync(this.opts.stateDir)) {
      const rec = this.record(name);
      if (!rec) continue;
      out.push({ instanceId: rec.instanceId, ref: name, fingerprint: rec.fingerprint, running: isOurs(rec) });
    }
    return out;
  }

  async start(w: DiscoveredWorkload, launch: SidecarLaunch): Promise<RunningSidecar> {
    const dir = join(this.opts.stateDir, w.instanceId);
    const data = join(dir, 'data');
    mkdirSync(dir, { recursive: true, mode: 0o755 }); // the sidecar's user must reach data/
    mkdirSync(data, { recursive: true, mode: 0o700 });
    chownSync(data, this.opts.proxyUid, this.opts.proxyUid);
    const logFd = openSync(join(dir, 'proxy.log'), 'a', 0o640);
    try {
      const child = spawn(process.execPath, [...SIDECAR_NODE_FLAGS, PROXY_MAIN, ...launch.args, '--data-dir', data], {
        uid: this.opts.proxyUid,
        gid: this.opts.proxyUid,
        detached: true,
        stdio: ['ignore', logFd, logFd],
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...launch.env },
      });
      await new Promise<void>((resolve, reject) => {
        child.once('spawn', resolve);
        child.once('error', reject);
      });
      child.unref();
      const rec: SidecarRecord = { instanceId: w.instanceId, pid: child.pid!, fingerprint: launch.fingerprint };
      writeFileSync(join(dir, RECORD), JSON.stringify(rec), { mode: 0o600 });
      return { instanceId: w.instanceId, ref: w.instanceId, fingerprint: launch.fingerprint, running: true };
    } finally {
      closeSync(logFd);
    }
  }

  async logs(s: RunningSidecar): Promise<string> {
    const file = join(this.opts.stateDir, s.ref, 'proxy.log');
    if (!existsSync(file)) return '';
    return readFileSync(file, 'utf8').trim().split('\n').slice(-20).join('\n');
  }

  async remove(s: RunningSidecar): Promise<void> {
    const rec = this.record(s.ref);
    if (rec && isOurs(rec)) {
      process.kill(rec.pid, 'SIGTERM'); // the sidecar drains, then exits
      const deadline = Date.now() + (this.opts.stopTimeoutMs ?? 10_000);
      while (isOurs(rec) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      if (isOurs(rec)) process.kill(rec.pid, 'SIGKILL');
    }
    rmSync(join(this.opts.stateDir, s.ref), { recursive: true, force: true });
  }

  private record(name: string): SidecarRecord | undefined {
    try {
      return JSON.parse(readFileSync(join(this.opts.stateDir, name, RECORD), 'utf8')) as SidecarRecord;
    } catch {
      return undefined;
    }
  }
}

/** Alive, and still our sidecar (a recycled pid would run something else). */
function isOurs(rec: SidecarRecord): boolean {
  try {
    const cmdline = readFileSync(`/proc/${rec.pid}/cmdline`, 'utf8');
    const stat = readFileSync(`/proc/${rec.pid}/stat`, 'utf8');
    return cmdline.includes(PROXY_MAIN) && cmdline.includes(rec.instanceId) && !/\) Z /.test(stat);
  } catch {
    return false;
  }
}
