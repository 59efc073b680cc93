// Small helpers shared by the benchmarks: a controller child process, HTTPS calls, percentiles.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { ACK_DELAY_MS, DeferredAck } from '../core/snapshot/deferred-ack.js';
import { ackLine, FrameDecoder } from '../core/snapshot/stream-frames.js';
import { freePort } from '../test/helpers/ports.js';

export interface ControllerProcess {
  child: ChildProcess;
  base: string;
  ca: string;
  token: string;
  rssMb(): { rss: number; peak: number };
  stop(): void;
}

const root = new URL('../../', import.meta.url).pathname;

/** The tests' port picker: below the ephemeral range, never the same port twice in a process. */
export { freePort };

/**
 * The fields of /proc/<pid>/stat after the command name (state, ppid, ...): utime and stime are
 * [11] and [12] (100 Hz ticks), rss in pages [21]. Throws if the process is gone.
 */
export function procStat(pid: number): string[] {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

/** Controllers still running: killed when the benchmark exits, however it ends. */
const controllers = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of controllers) c.kill('SIGKILL');
});

export async function startControllerProcess(extraArgs: string[] = []): Promise<ControllerProcess> {
  const dataDir = mkdtempSync(join(tmpdir(), 'mesh-bench-'));
  const port = await freePort();
  // BENCH_CONTROLLER_PROFILE_DIR: the controller writes a CPU profile there when it stops.
  const prof = process.env.BENCH_CONTROLLER_PROFILE_DIR ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CONTROLLER_PROFILE_DIR}`] : [];
  // BENCH_CONTROLLER_NODE_OPTIONS: V8 and Node flags for the controllers only (for an A/B of a flag).
  const flags = (process.env.BENCH_CONTROLLER_NODE_OPTIONS ?? '').split(' ').filter(Boolean);
  // --max-semi-space-size=8 as the systemd unit and the compose file run it; BENCH_CONTROLLER_NODE_OPTIONS comes after and wins.
  const child = spawn(process.execPath, ['--max-semi-space-size=8', ...prof, ...flags, join(root, 'dist/controller/main.js'), '--data-dir', dataDir, '--listen', `127.0.0.1:${port}`, ...extraArgs], {
    stdio: ['ignore', 'ignore', 'inherit'],
    // As the systemd unit and the compose file run it (docs/scaling.md, controller memory).
    env: { MESH_LOG_LEVEL: 'warn', MALLOC_ARENA_MAX: '1', MALLOC_MMAP_THRESHOLD_: '65536', ...process.env },
  });
  controllers.add(child);
  child.once('exit', () => controllers.delete(child));
  for (let i = 0; i < 200 && !existsSync(join(dataDir, 'controller-address')); i++) {
    if (child.exitCode !== null) throw new Error(`the controller exited with ${child.exitCode} before it started`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const status = () => readFileSync(`/proc/${child.pid}/status`, 'utf8');
  const kb = (field: string) =>
    Number(
      /(\d+) kB/.exec(
        status()
          .split('\n')
          .find((l) => l.startsWith(field)) ?? '',
      )?.[1] ?? 0,
    ) / 1024;
  return {
    child,
    base: `https://127.0.0.1:${port}`,
    ca: readFileSync(join(dataDir, 'ca.pem'), 'utf8'),
    token: readFileSync(join(dataDir, 'admin-token'), 'utf8').trim(),
    rssMb: () => ({ rss: kb('VmRSS:'), peak: kb('VmHWM:') }),
    stop: () => child.kill('SIGTERM'),
  };
}

/**
 * Calls the controller's API. `gzip`: ask for compressed bodies; `decode: false` leaves them
 * undecoded (`text` empty), for callers that need only the status, the headers and the size.
 */
export function caller(c: ControllerProcess, maxSockets = 64, gzip = false, decode = true): Call {
  return callThrough(new Agent({ keepAlive: true, maxSockets, ca: c.ca }), c, { authorization: `Bearer ${c.token}` }, gzip, decode);
}

/**
 * Calls the controller as one sidecar does: its own connection, authenticated by its workload
 * certificate (no token), asking for gzip, bodies left undecoded.
 */
export function workloadCaller(c: ControllerProcess, identity: { cert: string; key: string }): Call {
  return callThrough(new Agent({ keepAlive: true, maxSockets: 1, ca: c.ca, cert: identity.cert, key: identity.key }), c, {}, true, false);
}

/** How long a simulated proxy waits to acknowledge a snapshot, as the sidecar does; BENCH_ACK_DELAY=0 acknowledges at once (before 2026-12-05, thirteenth session). */
export const ACK_DELAY = Number(process.env.BENCH_ACK_DELAY ?? ACK_DELAY_MS);

/**
 * Follows a snapshot stream as one sidecar does (its own connection, its workload certificate):
 * each snapshot's version and size on the wire to `onSnapshot`, then acknowledged. Resolves when
 * the controller ends the stream.
 */
export type Follow = (path: string, onSnapshot: (version: string, bytes: number) => void) => Promise<void>;

export function workloadStreamer(c: ControllerProcess, identity: { cert: string; key: string }): Follow {
  const agent = new Agent({ keepAlive: true, maxSockets: 1, ca: c.ca, cert: identity.cert, key: identity.key });
  return (path, onSnapshot) =>
    new Promise((resolve, reject) => {
      const req = request(c.base + path, { method: 'POST', agent, headers: { 'accept-encoding': 'gzip', 'content-type': 'text/plain' } }, (res) => {
        if (res.statusCode !== 200) {
          res.resume();
          req.end();
          return reject(new Error(`stream refused: ${res.statusCode}`));
        }
        const decoder = new FrameDecoder();
        const acks = new DeferredAck((version) => req.write(ackLine(version)), ACK_DELAY);
        res.on('data', (chunk: Buffer) => {
          for (const f of decoder.push(chunk)) {
            if (f.type !== 'snapshot') continue;
            onSnapshot(f.version, f.body.length);
            acks.applied(f.version);
          }
        });
        res.on('end', () => {
          acks.cancel();
          req.end();
          resolve();
        });
        res.on('error', (err) => {
          acks.cancel();
          reject(err);
        });
      });
      req.on('error', reject);
      req.flushHeaders();
    });
}

/** `bytes`: the body as it came over the wire (compressed when gzip). `token`: another bearer token than the caller's (a bootstrap token, to sign a CSR). */
export type Call = (method: string, path: string, body?: string, token?: string) => Promise<{ status: number; text: string; bytes: number; etag: string | undefined }>;

function callThrough(agent: Agent, c: ControllerProcess, auth: Record<string, string>, gzip: boolean, decode: boolean): Call {
  return (method, path, body, token) =>
    new Promise((resolve, reject) => {
      const headers: Record<string, string> = token ? { authorization: `Bearer ${token}` } : { ...auth };
      if (body) headers['content-type'] = 'application/json';
      if (gzip) headers['accept-encoding'] = 'gzip';
      const req = request(c.base + path, { method, agent, headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (d: Buffer) => chunks.push(d));
        res.on('end', () => {
          const raw = Buffer.concat(chunks);
          const text = !decode ? '' : (res.headers['content-encoding'] === 'gzip' ? gunzipSync(raw) : raw).toString();
          resolve({ status: res.statusCode ?? 0, text, bytes: raw.length, etag: res.headers.etag });
        });
      });
      req.on('error', reject);
      req.end(body);
    });
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

export function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/** mesh-proxy's arguments for a benchmark sidecar: loopback only, explicit ports, no capture listener, no status port, quiet. */
export function sidecarArgs(o: { controller: string; caFile: string; token: string; service: string; id: string; appPort: number; inboundPort: number; adminPort: number }): string[] {
  return [
    join(root, 'dist/proxy/main.js'),
    '--controller',
    o.controller,
    '--ca-file',
    o.caFile,
    '--bootstrap-token',
    o.token,
    '--service',
    o.service,
    '--proxy-id',
    o.id,
    '--data-dir',
    mkdtempSync(join(tmpdir(), `mesh-px-${o.id}-`)),
    '--app-port',
    String(o.appPort),
    '--bind',
    '127.0.0.1',
    '--inbound-port',
    String(o.inboundPort),
    '--outbound-port',
    '-1',
    '--admin-port',
    String(o.adminPort),
    '--status-port',
    '-1',
    '--log-level',
    'warn',
    // As the proxies compared with (Envoy under Consul, nginx) run here: no access log.
    '--access-log',
    'off',
  ];
}
