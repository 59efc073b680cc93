// `mesh-agent capture install|release|remove <instance>`: what mesh-proxy@.service runs as root
// once its sidecar is ready (install), when a stop is requested, before the sidecar drains
// (release), and after it stopped for any reason, a crash too (remove). The VM's services share
// one namespace, so the rules are rebuilt for every instance currently captured; that set is kept
// in <run-dir>/captured.json under a lock, since two units may start at once.
//
// release also leaves <run-dir>/<instance>.stopping, which install clears: it tells the agent
// (watching the directory) that the unit is stopping on request, so that it deregisters the
// instance at once and leaves the unit as the person left it.
import { existsSync, mkdirSync, readFileSync, rmdirSync, rmSync, writeFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import type { AgentSettings, DiscoveredWorkload } from '../core/agent/plan.js';
import { MeshError } from '../core/errors.js';
import { HostCapture } from './capture.js';
import { sidecarReady } from './sidecar-ready.js';
import { FileWorkloadSource } from './sources/file-source.js';

/** What the agent leaves in <run-dir>/capture.json for the units' capture commands. */
export const CAPTURE_SETTINGS = 'capture.json';

export type CaptureAction = 'install' | 'release' | 'remove';

/** Present from a requested stop until the sidecar is ready again. */
export const stoppingMark = (runDir: string, instanceId: string) => join(runDir, `${instanceId}.stopping`);
export const STOPPING_SUFFIX = '.stopping';
export const isStopping = (runDir: string, instanceId: string) => existsSync(stoppingMark(runDir, instanceId));

export interface CaptureCommandOptions {
  configDir: string;
  runDir: string;
  instanceSuffix: string;
  /** install: wait this long for the sidecar's /ready before capturing (0: do not wait). */
  waitReadyMs: number;
  settings: AgentSettings;
}

/** The agent's settings when it left them in the run directory, else the given ones. */
export function captureOptions(runDir: string, fallback: CaptureCommandOptions): CaptureCommandOptions {
  try {
    const saved = JSON.parse(readFileSync(join(runDir, CAPTURE_SETTINGS), 'utf8')) as Pick<CaptureCommandOptions, 'configDir' | 'instanceSuffix' | 'settings'>;
    return { ...fallback, configDir: saved.configDir, instanceSuffix: saved.instanceSuffix, settings: saved.settings };
  } catch {
    return fallback;
  }
}

export async function captureCommand(action: CaptureAction, instanceId: string, o: CaptureCommandOptions): Promise<string> {
  const scan = await new FileWorkloadSource({ dir: o.configDir, address: '127.0.0.1', instanceSuffix: o.instanceSuffix }).scan();
  const byId = new Map(scan.workloads.map((w) => [w.instanceId, w]));
  const w = byId.get(instanceId);
  if (action === 'install') {
    if (!w) throw new MeshError('NOT_FOUND', `no valid service file in ${o.configDir} declares instance "${instanceId}" (known: ${[...byId.keys()].join(', ') || 'none'})`);
    if (o.waitReadyMs > 0) await waitReady(w, o.waitReadyMs);
  }
  mkdirSync(o.runDir, { recursive: true });
  if (action === 'release') writeFileSync(stoppingMark(o.runDir, instanceId), '', { mode: 0o644 });
  const done = await withLock(join(o.runDir, 'captured.lock'), async () => {
    const file = join(o.runDir, 'captured.json');
    const captured = new Set<string>(readJson(file));
    if (action === 'install') captured.add(instanceId);
    else captured.delete(instanceId);
    const active = [...captured].map((id) => byId.get(id)).filter((x): x is DiscoveredWorkload => Boolean(x));
    await new HostCapture(o.settings).sync(active);
    writeFileSync(`${file}.tmp`, JSON.stringify([...captured].sort()));
    renameSync(`${file}.tmp`, file);
    return `capturing ${active.map((a) => a.instanceId).join(', ') || 'nothing'}`;
  });
  if (action === 'install') rmSync(stoppingMark(o.runDir, instanceId), { force: true });
  return done;
}

async function waitReady(w: DiscoveredWorkload, ms: number): Promise<void> {
  if (await sidecarReady('127.0.0.1', w.decl.sidecar.statusPort, ms)) return;
  throw new MeshError('TIMEOUT', `the sidecar of ${w.instanceId} was not ready within ${ms / 1000} s; traffic is not captured (the application's connections go direct)`);
}

function readJson(file: string): string[] {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as string[];
  } catch {
    return [];
  }
}

async function withLock<T>(dir: string, fn: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      mkdirSync(dir);
      break;
    } catch {
      if (Date.now() > deadline) throw new MeshError('TIMEOUT', `${dir} is held by another capture command; remove it if no mesh-agent capture runs`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  try {
    return await fn();
  } finally {
    rmdirSync(dir);
  }
}
