// meshctl as a person runs it: the real binary against a real controller.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createServer } from 'node:http';
import { startController, type TestController } from '../helpers/controller.js';
import { waitFor } from '../helpers/ports.js';
import { startSidecar } from '../helpers/sidecar.js';

const bin = new URL('../../cli/main.js', import.meta.url).pathname;

describe('meshctl', () => {
  let c: TestController;
  const files = mkdtempSync(join(tmpdir(), 'meshctl-'));
  // Asynchronous on purpose: the controller runs in this process and must keep answering.
  const run = (args: string[], input?: string, env: Record<string, string> = {}) =>
    new Promise<{ code: number | null; out: string; err: string }>((resolve) => {
      const child = spawn(process.execPath, [bin, '--data-dir', c.dataDir, ...args], { env: { ...process.env, MESH_CONTROLLER: '', MESH_TOKEN: '', ...env } });
      let out = '';
      let err = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      child.on('close', (code) => resolve({ code, out, err }));
      child.stdin.end(input ?? '');
    });
  before(async () => {
    c = await startController();
  });
  after(() => c.close());

  it('applies files, lists, shows as YAML/JSON and deletes', async () => {
    writeFileSync(
      join(files, 'dr.yaml'),
      'apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: ratings}\nspec:\n  host: ratings\n  subsets: [{name: v1, labels: {version: v1}}]\n',
    );
    const applied = await run(['apply', '-f', join(files, 'dr.yaml')]);
    assert.equal(applied.code, 0, applied.err);
    assert.match(applied.out, /destinationrule\/ratings \(default\) created/);
    const list = await run(['get', 'dr']);
    assert.match(list.out, /^NAMESPACE\s+NAME\s+VERSION\s+AGE\n.*ratings/m);
    assert.match((await run(['get', 'destinationrule', 'ratings', '-o', 'yaml'])).out, /kind: DestinationRule[\s\S]*host: ratings/);
    assert.equal(JSON.parse((await run(['get', 'dr', 'ratings', '-o', 'json'])).out).spec.host, 'ratings');
    assert.match((await run(['delete', 'dr', 'ratings'])).out, /deleted/);
    assert.match((await run(['get', 'dr'])).out, /No DestinationRule resources/);
  });

  it('reads resources from stdin', async () => {
    const r = await run(['apply', '-f', '-'], 'apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: default, namespace: istio-system}\nspec: {mtls: {mode: STRICT}}\n');
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /peerauthentication\/default \(istio-system\) created/);
  });

  it('explains bad input in sentences, names the file, line and field, and exits non-zero', async () => {
    writeFileSync(
      join(files, 'bad.yaml'),
      'apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: r}\nspec:\n  hosts: [r]\n  http:\n  - route:\n    - destination: {host: r}\n      weight: 50\n    - destination: {host: r}\n      weight: 20\n',
    );
    const bad = await run(['apply', '-f', join(files, 'bad.yaml')]);
    assert.equal(bad.code, 1);
    assert.match(bad.err, /nothing was applied/);
    assert.match(bad.err, /bad\.yaml: spec\.http\[0\]\.route: weights must sum to 100, they sum to 70/);
    const unknownKind = await run(['get', 'envoyfilters']);
    assert.equal(unknownKind.code, 1);
    assert.match(unknownKind.err, /unknown kind "envoyfilters"/);
    const missing = await run(['get', 'vs', 'nope']);
    assert.equal(missing.code, 1);
    assert.match(missing.err, /VirtualService "nope" not found in namespace "default"/);
    const noFile = await run(['apply', '-f', join(files, 'absent.yaml')]);
    assert.equal(noFile.code, 1);
    assert.match(noFile.err, /absent\.yaml: no such file or directory/);
  });

  it('says what to do when it cannot reach or authenticate to the controller', async () => {
    const down = await run(['status'], undefined, { MESH_CONTROLLER: 'https://127.0.0.1:1' });
    assert.equal(down.code, 1);
    assert.match(down.err, /cannot reach the controller at https:\/\/127\.0\.0\.1:1: nothing listens there/);
    const badToken = await run(['status', '--token', 'mat1.nope']);
    assert.equal(badToken.code, 1);
    assert.match(badToken.err, /needs the admin token/);
  });

  it('creates a bootstrap token and signs a CSR with it', async () => {
    const token = (await run(['token', 'create', '--service', 'details', '--ttl', '5m'])).out.trim();
    assert.match(token, /^mbt1\./);
    const { workloadCsr } = await import('../helpers/workload.js');
    writeFileSync(join(files, 'd.csr'), workloadCsr().csr);
    const signed = await run(['ca', 'sign', '--csr', join(files, 'd.csr'), '--bootstrap-token', token]);
    assert.equal(signed.code, 0, signed.err);
    assert.match(signed.out, /^-----BEGIN CERTIFICATE-----/);
    assert.match((await run(['ca', 'roots'])).out, /cluster\.local\s+([0-9A-F]{2}:){31}[0-9A-F]{2}\s+\S+\s+yes/);
    assert.equal((await run(['token', 'create'])).code, 1);
  });

  it('shows status, services, proxies and a proxy config', async () => {
    await c.call('POST', '/v1/catalog/instances', { id: 'details-1', service: 'details', address: '127.0.0.1', port: 9081, labels: { version: 'v1' } });
    await c.call('GET', '/v1/snapshots?proxy=details-1&service=details');
    assert.match((await run(['status'])).out, /status\s+ok[\s\S]*embedded: 1 services, 1 healthy instances/);
    assert.match((await run(['services'])).out, /default\s+details\s+127\.0\.0\.1:9081\s+v1\s+no/);
    assert.match((await run(['proxies'])).out, /details-1\s+details\s+default\s+[0-9a-f]{16}/);
    assert.match((await run(['proxy-config', 'details-1'])).out, /identity: spiffe:\/\/cluster\.local\/ns\/default\/sa\/details/);
    const unknown = await run(['proxy-config', 'ghost']);
    assert.equal(unknown.code, 1);
    assert.match(unknown.err, /no proxy "ghost" has connected recently/);
  });

  it('proxy-status: SYNCED once a sidecar holds its snapshot, STALE when a sent one is not confirmed, NOT SENT when a change has not gone out', async () => {
    const app = createServer((_q, r) => r.end('ok')).listen(0, '127.0.0.1');
    await new Promise((r) => app.once('listening', r));
    const port = (app.address() as { port: number }).port;
    const sidecar = await startSidecar(c, 'ratings', port, { proxyId: 'ratings-1' });
    await c.call('POST', '/v1/catalog/instances', { id: 'ratings-1', service: 'ratings', address: '127.0.0.1', port, labels: { version: 'v1' }, sidecar: { inboundPort: sidecar.ports.inbound } });
    const status = async () => {
      const { proxies } = JSON.parse((await run(['proxy-status', '-o', 'json'])).out) as { proxies: { id: string; status: string }[] };
      return Object.fromEntries(proxies.map((p) => [p.id, p.status]));
    };
    try {
      await waitFor('ratings-1 to hold its snapshot', async () => (await status())['ratings-1'] === 'SYNCED', 10_000);
      // A proxy that was sent its snapshot and never came back to say it holds it.
      await c.call('GET', '/v1/snapshots?proxy=silent-1&service=silent');
      assert.equal((await status())['silent-1'], 'STALE');
      // A change: the watching sidecar gets it and applies it; the silent proxy is not sent it.
      const applied = await run(
        ['apply', '-f', '-'],
        'apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: ratings-timeout}\nspec:\n  hosts: [ratings]\n  http: [{timeout: 3s, route: [{destination: {host: ratings}}]}]\n',
      );
      assert.equal(applied.code, 0, applied.err);
      await waitFor('the change to reach ratings-1', async () => sidecar.snapshot?.outbound.services.some((x) => x.httpRoutes.some((r) => r.timeoutMs === 3000)), 10_000);
      await waitFor('ratings-1 to say it holds it', async () => (await status())['ratings-1'] === 'SYNCED', 10_000);
      assert.equal((await status())['silent-1'], 'NOT SENT');
      const table = (await run(['proxy-status'])).out;
      assert.match(table, /^NAME\s+NAMESPACE\s+SERVICE\s+STATUS\s+CONTROLLER VERSION\s+PROXY VERSION\s+LAST SEEN$/m);
      assert.match(table, /^ratings-1\s+default\s+ratings\s+SYNCED\s+([0-9a-f]{16})\s+\1\s/m);
    } finally {
      await sidecar.close();
      app.close();
      await c.call('DELETE', '/v1/resources/virtualservice/default/ratings-timeout');
      await c.call('DELETE', '/v1/catalog/instances/ratings-1');
    }
  });

  it('analyze: finds what breaks across resources, in the mesh and in files not applied yet; errors exit 1', async () => {
    await c.call('POST', '/v1/catalog/instances', { id: 'reviews-v1', service: 'reviews', address: '127.0.0.1', port: 9080, labels: { version: 'v1' } });
    writeFileSync(
      join(files, 'route-v9.yaml'),
      'apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: reviews-v9}\nspec:\n  hosts: [reviews]\n  http:\n  - route: [{destination: {host: reviews, subset: v9}}]\n',
    );
    const clean = await run(['analyze']);
    assert.equal(clean.code, 0, clean.err);
    assert.match(clean.out, /No problems found/);
    const found = await run(['analyze', '-f', join(files, 'route-v9.yaml')]);
    assert.equal(found.code, 1);
    assert.match(found.out, /MSH0101\s+Error\s+VirtualService default\/reviews-v9\s+subset "v9" of "reviews" is defined by no DestinationRule/);
    const json = JSON.parse((await run(['analyze', '-f', join(files, 'route-v9.yaml'), '-o', 'json'])).out) as { findings: { code: string }[] };
    assert.deepEqual(
      json.findings.map((f) => f.code),
      ['MSH0101'],
    );
    assert.equal((await run(['get', 'vs', 'reviews-v9'])).code, 1, 'analyze applied nothing');
    await c.call('DELETE', '/v1/catalog/instances/reviews-v1');
  });
});
