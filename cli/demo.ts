#!/usr/bin/env node
// The quick-start demo on the embedded default: no Consul, no Docker, no root. It starts a real
// mesh-controller, the Bookinfo services as plain processes that know nothing of the mesh, and a
// mesh-proxy beside each (rootless: explicit local listeners per upstream). It registers the
// instances as the host agent does, applies Istio routes with meshctl, drives traffic, and shows
// the split, the mTLS identities and the metrics.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateKeyPair, signerFor } from '../core/pki/keys.js';
import { buildCsr, certificateInfo } from '../core/pki/x509.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const keep = process.argv.includes('--keep');
const dataDir = mkdtempSync(join(tmpdir(), 'mesh-demo-'));
const bold = (s: string) => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s);
const children: ChildProcess[] = [];

function say(text: string): void {
  process.stdout.write(`\n${bold(`== ${text}`)}\n`);
}

function meshctl(args: string[], opts: { expectFailure?: boolean; show?: (out: string) => string } = {}): string {
  process.stdout.write(`$ meshctl ${args.join(' ')}\n`);
  const r = spawnSync(process.execPath, [join(root, 'dist/cli/main.js'), '--data-dir', dataDir, ...args], { encoding: 'utf8', cwd: root });
  const out = (r.stdout ?? '') + (r.stderr ?? '');
  process.stdout.write((opts.show ? opts.show(out) : out).replace(/^/gm, '  ') + '\n');
  if (Boolean(r.status) !== Boolean(opts.expectFailure)) throw new Error(`meshctl ${args.join(' ')} exited with ${r.status}`);
  return r.stdout;
}

/**
 * A port for a process started a moment later. Taken below the kernel's ephemeral range
 * (32768 and up), so that no outgoing connection of another program can grab it in between.
 */
const handedOut = new Set<number>();
async function freePort(): Promise<number> {
  for (;;) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    // The ports are all taken up front and bound later: never hand out the same one twice.
    if (handedOut.has(port)) continue;
    const free = await new Promise<boolean>((resolve) => {
      const s = createServer();
      s.once('error', () => resolve(false));
      s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
    });
    if (free) {
      handedOut.add(port);
      return port;
    }
  }
}

async function api(method: string, path: string, body?: unknown): Promise<string> {
  const base = readFileSync(join(dataDir, 'controller-address'), 'utf8').trim();
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(
      base + path,
      { method, ca: readFileSync(join(dataDir, 'ca.pem')), headers: { authorization: `Bearer ${readFileSync(join(dataDir, 'admin-token'), 'utf8').trim()}`, 'content-type': 'application/json' } },
      (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString()));
        res.on('end', () => ((res.statusCode ?? 500) < 300 ? resolve(text) : reject(new Error(`${path}: HTTP ${res.statusCode} ${text}`))));
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

async function getJson(port: number, path: string, headers: Record<string, string> = {}): Promise<Record<string, any>> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, { headers });
  return (await res.json()) as Record<string, any>;
}

async function waitFor(what: string, check: () => Promise<boolean> | boolean, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await Promise.resolve(check()).catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

function run(args: string[]): ChildProcess {
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr?.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-2000)));
  child.on('exit', (code) => {
    if (code && code !== 0 && !stopping) process.stderr.write(`a demo process exited with ${code}: ${args.slice(0, 3).join(' ')}\n${err}\n`);
  });
  children.push(child);
  return child;
}

let stopping = false;
function stopAll(): void {
  stopping = true;
  for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
}

interface Workload {
  id: string;
  service: string;
  version: string;
  calls: string[];
  appPort: number;
  inbound: number;
  admin: number;
  status: number;
  upstreams: Record<string, number>;
}

async function main(): Promise<void> {
  process.on('exit', stopAll);
  const port = await freePort();
  say(`Starting mesh-controller on 127.0.0.1:${port} with the embedded registry (data in ${dataDir})`);
  run([join(root, 'dist/controller/main.js'), '--data-dir', dataDir, '--listen', `127.0.0.1:${port}`, '--log-level', 'warn']);
  await waitFor('the controller', () => existsSync(join(dataDir, 'controller-address')));
  meshctl(['status']);

  say('Starting the Bookinfo services as plain processes, each with a mesh-proxy beside it');
  const plan: [string, string, string, string[]][] = [
    ['productpage-1', 'productpage', 'v1', ['details', 'reviews']],
    ['details-1', 'details', 'v1', []],
    ['reviews-v1-1', 'reviews', 'v1', []],
    ['reviews-v2-1', 'reviews', 'v2', ['ratings']],
    ['reviews-v3-1', 'reviews', 'v3', ['ratings']],
    ['ratings-1', 'ratings', 'v1', []],
  ];
  const caFile = join(dataDir, 'ca.pem');
  const workloads: Workload[] = [];
  for (const [id, service, version, calls] of plan) {
    const w: Workload = { id, service, version, calls, appPort: await freePort(), inbound: await freePort(), admin: await freePort(), status: await freePort(), upstreams: {} };
    for (const c of calls) w.upstreams[c] = await freePort();
    const token = JSON.parse(await api('POST', '/v1/tokens', { service, ttl: '10m' })).token as string;
    run([join(root, 'examples/bookinfo/app.mjs'), `--name=${service}`, `--version=${version}`, `--port=${w.appPort}`, `--calls=${calls.map((c) => `${c}:${w.upstreams[c]}`).join(',')}`]);
    run([
      join(root, 'dist/proxy/main.js'),
      '--controller',
      readFileSync(join(dataDir, 'controller-address'), 'utf8').trim(),
      '--ca-file',
      caFile,
      '--bootstrap-token',
      token,
      '--service',
      service,
      '--proxy-id',
      id,
      '--data-dir',
      join(dataDir, 'proxies', id),
      '--app-port',
      String(w.appPort),
      '--bind',
      '127.0.0.1',
      '--inbound-port',
      String(w.inbound),
      '--outbound-port',
      '-1',
      '--admin-port',
      String(w.admin),
      '--status-port',
      String(w.status),
      '--telemetry-interval',
      '1s',
      '--log-level',
      'warn',
      ...calls.flatMap((c) => ['--upstream', `${c}=${w.upstreams[c]}`]),
    ]);
    workloads.push(w);
  }
  for (const w of workloads) {
    await waitFor(`the ${w.id} sidecar`, async () => (await fetch(`http://127.0.0.1:${w.status}/healthz/ready`)).ok);
    // What the host agent does once the sidecar is ready: register the instance with its sidecar port.
    await api('POST', '/v1/catalog/instances', {
      id: w.id,
      service: w.service,
      address: '127.0.0.1',
      port: w.appPort,
      protocol: 'http',
      labels: { version: w.version },
      sidecar: { inboundPort: w.inbound, statusPort: w.status },
    });
  }
  meshctl(['services']);
  meshctl(['proxies']);

  say('Applying Istio resources: subsets, a 90/10 split of reviews between v1 and v3 (jason gets v2), and strict mTLS');
  meshctl(['apply', '-f', relative(process.cwd(), join(root, 'examples/bookinfo')) || '.']);
  const pp = workloads[0];
  await waitFor('the route at the productpage sidecar', async () => {
    const snap = await getJson(pp.admin, '/config_dump');
    const reviews = (snap?.outbound?.services as { name: string; httpRoutes: unknown[]; clusters: { endpoints: unknown[] }[] }[] | undefined)?.find((s) => s.name === 'reviews');
    return reviews?.httpRoutes.length === 2 && reviews.clusters[0].endpoints.length === 3;
  });

  say('Loading the product page 200 times; productpage calls details and reviews through its sidecar, over mTLS');
  const counts: Record<string, number> = {};
  let caller = '';
  for (let i = 0; i < 200; i++) {
    const page = await getJson(pp.appPort, '/productpage');
    const reviews = page.deps?.reviews ?? {};
    counts[reviews.version ?? `error ${reviews.status}`] = (counts[reviews.version ?? `error ${reviews.status}`] ?? 0) + 1;
    caller = reviews.caller ?? caller;
  }
  process.stdout.write(
    `  reviews versions seen: ${Object.entries(counts)
      .sort()
      .map(([v, n]) => `${v} ${n}`)
      .join(', ')}   (route: 90% v1, 10% v3)\n`,
  );
  const jason = (await getJson(pp.appPort, '/productpage', { 'end-user': 'jason' })).deps?.reviews ?? {};
  process.stdout.write(`  with end-user: jason -> reviews ${jason.version}, which called ratings ${jason.deps?.ratings?.version ?? '?'}\n`);
  process.stdout.write(`  reviews saw its caller as: ${caller}\n`);

  say("productpage's sidecar metrics (Istio's names and labels)");
  const metrics = await (await fetch(`http://127.0.0.1:${pp.admin}/stats/prometheus`)).text();
  // A few of Istio's 25 standard labels, to keep the lines readable.
  const shown = ['reporter', 'source_workload', 'destination_workload', 'destination_service', 'response_code', 'response_flags', 'connection_security_policy'];
  for (const line of metrics.split('\n').filter((l) => l.startsWith('istio_requests_total{'))) {
    const labels = [...line.matchAll(/([a-z_]+)="([^"]*)"/g)].filter((m) => shown.includes(m[1])).map((m) => `${m[1]}="${m[2]}"`);
    process.stdout.write(`  istio_requests_total{${labels.join(',')},...} ${line.slice(line.lastIndexOf(' ') + 1)}\n`);
  }
  await new Promise((r) => setTimeout(r, 1500)); // one telemetry interval
  const edges = JSON.parse(await api('GET', '/v1/telemetry/edges')).edges as { source: string; destination: string; requests: number; errorRate: number; p50Ms: number; p99Ms: number }[];
  process.stdout.write(
    `  the controller's mesh-wide view: ${edges.map((e) => `${e.source} -> ${e.destination}: ${e.requests} requests, ${(e.errorRate * 100).toFixed(1)}% errors, p50 ${e.p50Ms?.toFixed(2)} ms, p99 ${e.p99Ms?.toFixed(2)} ms`).join('; ')}\n`,
  );

  say('Identity: a bootstrap token lets a workload get a certificate for its own service only');
  const token = meshctl(['token', 'create', '--service', 'reviews', '--ttl', '10m']).trim();
  const key = generateKeyPair();
  const csrFile = join(dataDir, 'reviews.csr');
  writeFileSync(csrFile, buildCsr(key.spkiDer, { uris: [] }, signerFor(key.privateKey)));
  const cert = meshctl(['ca', 'sign', '--csr', csrFile, '--bootstrap-token', token], { show: (pem) => `${pem.split('\n')[0]} ... (${pem.length} bytes)` });
  const info = certificateInfo(cert);
  process.stdout.write(`  identity ${info.uris.join(', ')}, valid until ${info.notAfter.toISOString()}\n`);
  const wrongFile = join(dataDir, 'ratings.csr');
  writeFileSync(wrongFile, buildCsr(key.spkiDer, { uris: ['spiffe://cluster.local/ns/default/sa/ratings'] }, signerFor(key.privateKey)));
  meshctl(['ca', 'sign', '--csr', wrongFile, '--bootstrap-token', token], { expectFailure: true });

  say('Validation: a broken resource is refused with every problem and its field path; nothing changes');
  meshctl(['apply', '-f', relative(process.cwd(), join(root, 'examples/broken-route.yaml'))], { expectFailure: true });

  say('Where to look next');
  process.stdout.write(
    [
      `  controller API: ${readFileSync(join(dataDir, 'controller-address'), 'utf8').trim()} (docs/openapi.yaml)`,
      `  meshctl --data-dir ${dataDir} proxy-config productpage-1   (what the productpage sidecar was told)`,
      `  productpage sidecar admin: http://127.0.0.1:${pp.admin}/stats/prometheus, /config_dump, /certs`,
      '  the snapshot contract every sidecar receives: docs/snapshot.md',
      '  the same demo meshed by labels on Docker, traffic captured by iptables: docker compose -f compose/docker-compose.yml up -d --build',
      '  VMs: service files in /etc/mesh/services.d and `mesh-agent vm` (README.md, systemd/)',
      '  the full test suite with a real Consul, Docker and network namespaces: bash scripts/test-all.sh',
      keep ? '  everything keeps running (--keep); stop it with Ctrl-C' : '  run `npm run demo -- --keep` to leave the mesh running',
    ].join('\n') + '\n',
  );
  if (keep) {
    process.on('SIGINT', () => process.exit(0));
    await new Promise(() => undefined);
  }
  stopAll();
}

main().catch((err: unknown) => {
  process.stderr.write(`demo failed: ${(err as Error).message}\n`);
  stopAll();
  process.exit(1);
});
