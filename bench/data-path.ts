// Data path throughput: direct (client -> app) against the mesh (client -> client sidecar ->
// mTLS -> server sidecar -> app), HTTP/1.1 keep-alive, 32 connections, 1 KiB responses, driven
// by wrk. Every part runs in its own process; ratios are taken within one run. Also each
// sidecar's RSS under that load.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SIDECAR_ENV, SIDECAR_NODE_FLAGS } from '../common/sidecar-process.js';
import { caller, freePort, median, sidecarArgs, startControllerProcess } from './lib.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32);

async function waitHttp(url: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      // not yet
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${url} did not answer`);
}

function wrk(port: number, host: string): { rps: number; p50: string; p99: string } {
  const r = spawnSync('wrk', [`-t2`, `-c${CONNECTIONS}`, `-d${SECONDS}s`, '--latency', '-H', `Host: ${host}`, `http://127.0.0.1:${port}/`], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`wrk failed: ${r.stderr || r.error}`);
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(r.stdout)?.[1] ?? 0);
  const p50 = /^\s+50%\s+(\S+)/m.exec(r.stdout)?.[1] ?? '?';
  const p99 = /^\s+99%\s+(\S+)/m.exec(r.stdout)?.[1] ?? '?';
  return { rps, p50, p99 };
}

function rssMb(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('VmRSS:'));
  return Number(/(\d+)/.exec(line ?? '')?.[1] ?? 0) / 1024;
}

async function main(): Promise<void> {
  if (spawnSync('wrk', ['--version']).error) throw new Error('wrk is not installed: apt-get install wrk');
  const children: ChildProcess[] = [];
  const controller = await startControllerProcess();
  const call = caller(controller);
  try {
    const appPort = await freePort();
    const appFile = join(mkdtempSync(join(tmpdir(), 'mesh-app-')), 'app.mjs');
    writeFileSync(
      appFile,
      `import http from 'node:http'; const body = Buffer.alloc(1024, 'x'); http.createServer((q, r) => { r.writeHead(200, {'content-type': 'text/plain', 'content-length': body.length}); r.end(body); }).listen(${appPort}, '127.0.0.1');`,
    );
    children.push(spawn(process.execPath, [appFile], { stdio: 'ignore' }));
    await waitHttp(`http://127.0.0.1:${appPort}/`);

    const caFile = join(mkdtempSync(join(tmpdir(), 'mesh-ca-')), 'ca.pem');
    writeFileSync(caFile, controller.ca);
    const startProxy = async (service: string, id: string, app: number, extra: string[]) => {
      const token = JSON.parse((await call('POST', '/v1/tokens', JSON.stringify({ service }))).text).token as string;
      const [inbound, admin] = [await freePort(), await freePort()];
      const prof = process.env.BENCH_PROFILE_DIR ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE_DIR}`] : [];
      // Flags and environment as the host agent starts sidecars, unless BENCH_PROXY_NODE_OPTIONS says otherwise.
      const v8 = process.env.BENCH_PROXY_NODE_OPTIONS?.split(' ').filter(Boolean) ?? SIDECAR_NODE_FLAGS;
      const child = spawn(
        process.execPath,
        [...v8, ...prof, ...sidecarArgs({ controller: controller.base, caFile, token, service, id, appPort: app, inboundPort: inbound, adminPort: admin }), ...extra],
        { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, ...SIDECAR_ENV } },
      );
      children.push(child);
      await waitHttp(`http://127.0.0.1:${admin}/ready`);
      return { child, inbound, admin };
    };
    // BENCH_TRACE_SAMPLING=100: both sidecars trace that share of requests to a local OTLP sink.
    const tracing: string[] = [];
    if (process.env.BENCH_TRACE_SAMPLING) {
      const sink = createHttpServer((q, r) => q.resume().on('end', () => r.end('{}')));
      await new Promise<void>((r) => sink.listen(0, '127.0.0.1', r));
      sink.unref();
      tracing.push('--otlp-endpoint', `http://127.0.0.1:${(sink.address() as { port: number }).port}/v1/traces`, '--trace-sampling', process.env.BENCH_TRACE_SAMPLING);
    }
    const server = await startProxy('echo', 'echo-1', appPort, tracing);
    await call(
      'POST',
      '/v1/catalog/instances',
      JSON.stringify({ id: 'echo-1', service: 'echo', address: '127.0.0.1', port: appPort, protocol: 'http', labels: { version: 'v1' }, sidecar: { inboundPort: server.inbound } }),
    );
    // Production meshes run STRICT; it also lets the server sidecar skip protocol sniffing.
    if (!process.env.BENCH_PERMISSIVE)
      await call(
        'POST',
        '/v1/apply',
        JSON.stringify({ apiVersion: 'security.istio.io/v1', kind: 'PeerAuthentication', metadata: { name: 'default', namespace: 'istio-system' }, spec: { mtls: { mode: 'STRICT' } } }),
      );
    if (process.env.BENCH_PLAINTEXT)
      await call(
        'POST',
        '/v1/apply',
        JSON.stringify({ apiVersion: 'networking.istio.io/v1', kind: 'DestinationRule', metadata: { name: 'echo' }, spec: { host: 'echo', trafficPolicy: { tls: { mode: 'DISABLE' } } } }),
      );
    const localPort = await freePort();
    const client = await startProxy('client', 'client-1', await freePort(), ['--upstream', `echo=${localPort}`, ...tracing]);
    for (let i = 0; i < 100; i++) {
      const r = await fetch(`http://127.0.0.1:${localPort}/`).catch(() => undefined);
      if (r?.status === 200) break;
      await new Promise((res) => setTimeout(res, 50));
    }

    const direct: number[] = [];
    const mesh: number[] = [];
    const rows: string[] = [];
    let rss = { client: 0, server: 0 };
    for (let run = 0; run < RUNS; run++) {
      const d = wrk(appPort, 'echo');
      const m = wrk(localPort, 'echo');
      rss = { client: Math.max(rss.client, rssMb(client.child.pid!)), server: Math.max(rss.server, rssMb(server.child.pid!)) };
      direct.push(d.rps);
      mesh.push(m.rps);
      rows.push(`  run ${run + 1}: direct ${Math.round(d.rps)} req/s (p50 ${d.p50}, p99 ${d.p99}); mesh ${Math.round(m.rps)} req/s (p50 ${m.p50}, p99 ${m.p99}); ratio ${(m.rps / d.rps).toFixed(2)}`);
    }
    const ratios = direct.map((d, i) => mesh[i] / d);
    console.log(`data path, HTTP/1.1 keep-alive, ${CONNECTIONS} connections, 1 KiB responses, ${SECONDS}s per measurement (wrk)`);
    for (const r of rows) console.log(r);
    console.log(`  mesh/direct throughput: median ${median(ratios).toFixed(2)} (target >= 0.50)`);
    console.log(`  sidecar RSS under load: client ${rss.client.toFixed(0)} MB, server ${rss.server.toFixed(0)} MB (target < 60 MB)`);
  } finally {
    // SIGTERM lets the sidecars drain and exit, which also writes their CPU profiles.
    for (const c of children) c.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 6000));
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    controller.stop();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
