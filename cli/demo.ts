#!/usr/bin/env node
// The quick-start demo on the embedded default: no Consul, no Docker, no root. It starts a real
// mesh-controller, registers the Bookinfo services the way the host agent will, and drives
// meshctl against it, printing each command and its output.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
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

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

async function api(method: string, path: string, body: unknown): Promise<void> {
  const base = readFileSync(join(dataDir, 'controller-address'), 'utf8').trim();
  const payload = JSON.stringify(body);
  await new Promise<void>((resolve, reject) => {
    const req = request(base + path, { method, ca: readFileSync(join(dataDir, 'ca.pem')), headers: { authorization: `Bearer ${readFileSync(join(dataDir, 'admin-token'), 'utf8').trim()}`, 'content-type': 'application/json' } }, (res) => {
      res.resume();
      res.on('end', () => ((res.statusCode ?? 500) < 300 ? resolve() : reject(new Error(`${path}: HTTP ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.end(payload);
  });
}

async function main(): Promise<void> {
  const port = await freePort();
  say(`Starting mesh-controller on 127.0.0.1:${port} with the embedded registry (data in ${dataDir})`);
  const controller: ChildProcess = spawn(process.execPath, [join(root, 'dist/controller/main.js'), '--data-dir', dataDir, '--listen', `127.0.0.1:${port}`], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  controller.stderr?.on('data', (d: Buffer) => (log += d.toString()));
  const stop = () => controller.exitCode === null && controller.kill('SIGTERM');
  process.on('exit', stop);
  for (let i = 0; i < 100 && !existsSync(join(dataDir, 'controller-address')); i++) await new Promise((r) => setTimeout(r, 100));
  if (!existsSync(join(dataDir, 'controller-address'))) throw new Error(`the controller did not start:\n${log}`);
  meshctl(['status']);

  say('Registering the Bookinfo instances, as the host agent does for labelled containers and VM service files');
  const instances = [
    ['productpage-1', 'productpage', 'v1', 9080],
    ['details-1', 'details', 'v1', 9081],
    ['reviews-v1-1', 'reviews', 'v1', 9082],
    ['reviews-v2-1', 'reviews', 'v2', 9083],
    ['reviews-v3-1', 'reviews', 'v3', 9084],
    ['ratings-1', 'ratings', 'v1', 9085],
  ] as const;
  for (const [id, service, version, appPort] of instances) {
    await api('POST', '/v1/catalog/instances', { id, service, address: '127.0.0.1', port: appPort, protocol: 'http', labels: { version }, sidecar: { inboundPort: appPort + 6000 } });
  }
  meshctl(['services']);

  say('Applying Istio resources: subsets, a 90/10 split of reviews between v1 and v3, and strict mTLS');
  const examples = relative(process.cwd(), join(root, 'examples/bookinfo')) || '.';
  meshctl(['apply', '-f', examples]);
  meshctl(['get', 'virtualservices']);

  say('What the productpage sidecar will be told about reviews (its compiled snapshot)');
  // The productpage sidecar's first fetch (the sidecar itself comes with the data-plane work).
  await api('GET', '/v1/snapshots?proxy=productpage-1&service=productpage', undefined);
  meshctl(['proxy-config', 'productpage-1', '-o', 'json'], {
    show: (out) => {
      const snap = JSON.parse(out) as { version: string; proxy: { identity: string }; inbound: { ports: unknown[] }; outbound: { services: { name: string; httpRoutes: unknown[]; clusters: { name: string; endpoints: { port: number }[] }[] }[] } };
      const reviews = snap.outbound.services.find((s) => s.name === 'reviews')!;
      return JSON.stringify({ version: snap.version, identity: snap.proxy.identity, inbound: snap.inbound.ports, reviewsRoutes: reviews.httpRoutes, reviewsClusters: reviews.clusters.map((c) => `${c.name} -> ${c.endpoints.map((e) => e.port).join(',') || '(none)'}`) }, null, 2);
    },
  });

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
      `  meshctl --data-dir ${dataDir} --help`,
      '  the snapshot contract every sidecar receives: docs/snapshot.md',
      '  the full test suite with a real Consul: bash scripts/test-all.sh',
      keep ? '  the controller keeps running (--keep); stop it with Ctrl-C' : '  run `npm run demo -- --keep` to leave the controller running',
    ].join('\n') + '\n',
  );
  if (keep) {
    process.on('SIGINT', () => process.exit(0));
    await new Promise(() => undefined);
  }
  stop();
}

main().catch((err: unknown) => {
  process.stderr.write(`demo failed: ${(err as Error).message}\n`);
  process.exit(1);
});
