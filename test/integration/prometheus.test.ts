// A real Prometheus (Debian's package) scrapes a live controller (over its TLS API port, with the
// mesh CA) and a sidecar's status port, and Istio's own dashboard queries (test/fixtures/
// istio-dashboards/queries.tsv) are evaluated against it. Every control-plane query must return
// data, and so must every sidecar query (Istio's mesh, service, workload and performance
// dashboards, Kiali's graph) but the 15 that ask the source reporter for mTLS, which Istio leaves
// empty too, with traffic of every class: mTLS and plaintext, HTTP and TCP, into
// the mesh from outside and out of it to workloads without a sidecar, answers 2xx to 5xx.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { connect, createServer as createNetServer, type Server as NetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Sidecar } from '../../proxy/sidecar.js';
import { get, startApp, type TestApp } from '../helpers/apps.js';
import { registerInstance } from '../helpers/catalog.js';
import { startController, type TestController } from '../helpers/controller.js';
import { freePort, waitFor } from '../helpers/ports.js';
import { startSidecar } from '../helpers/sidecar.js';

const root = new URL('../../../', import.meta.url).pathname;
const hasPrometheus = spawnSync('prometheus', ['--version']).status === 0;

interface Query {
  dashboard: string;
  panel: string;
  scope: string;
  /** Labels at least one result series must carry (Kiali's graph and the dashboards' variables read them). */
  resultLabels: string[];
  expr: string;
}

/** One TCP connection through the sidecars: a line out, its echo back, closed. */
function tcpEcho(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => s.write('ping\n'));
    s.on('data', () => s.end());
    s.on('close', () => resolve());
    s.on('error', reject);
  });
}

function queries(): Query[] {
  return readFileSync(join(root, 'test/fixtures/istio-dashboards/queries.tsv'), 'utf8')
    .split('\n')
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => {
      const [dashboard, panel, scope, labels, expr] = l.split('\t');
      return { dashboard, panel, scope, resultLabels: labels === '-' ? [] : labels.split(','), expr };
    });
}

describe('Istio dashboard queries against a real Prometheus', { skip: hasPrometheus ? false : 'prometheus is not installed (scripts/install-test-deps.sh installs it)' }, () => {
  let c: TestController;
  let app: TestApp;
  let server: Sidecar;
  let client: Sidecar;
  let db: Sidecar;
  let echo: NetServer;
  let prometheus: ChildProcess;
  let promUrl = '';

  const query = async (expr: string): Promise<unknown[]> => {
    const res = await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent(expr)}`);
    const body = (await res.json()) as { status: string; error?: string; data?: { result: unknown[] } };
    if (body.status !== 'success') throw new Error(`${expr}: ${body.error}`);
    return body.data!.result;
  };

  before(async () => {
    c = await startController();
    app = await startApp('reviews', (path) => (path === '/missing' ? 404 : path === '/broken' ? 503 : 200));
    server = await startSidecar(c, 'reviews', app.port, { statusPort: 0 });
    await registerInstance(c, 'reviews-1', 'reviews', app.port, { sidecar: server, withStatusPort: true });
    // A TCP service too: an echo server behind its sidecar.
    echo = createNetServer((s) => s.pipe(s));
    await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
    const echoPort = (echo.address() as { port: number }).port;
    db = await startSidecar(c, 'db', echoPort, { statusPort: 0 });
    await registerInstance(c, 'db-1', 'db', echoPort, { protocol: 'tcp', sidecar: db, withStatusPort: true });
    // And a workload without a sidecar, reached in plaintext.
    await registerInstance(c, 'legacy-1', 'legacy', app.port, { protocol: 'http' });
    await registerInstance(c, 'legacydb-1', 'legacydb', echoPort, { protocol: 'tcp' });
    client = await startSidecar(c, 'productpage', 1, {
      statusPort: 0,
      upstreams: ['reviews', 'db', 'legacy', 'legacydb'].map((service) => ({ port: 0, service })),
    });
    await registerInstance(c, 'productpage-1', 'productpage', 1, { sidecar: client, withStatusPort: true });
    await waitFor('the services at productpage', () => ['reviews', 'db', 'legacy', 'legacydb'].every((n) => client.snapshot?.outbound.services.some((s) => s.name === n)), 5000);

    const dir = mkdtempSync(join(tmpdir(), 'mesh-prom-'));
    // The configuration the compose file ships (compose/prometheus/prometheus.yml), pointed at this
    // controller: the sidecars are found through its catalog (HTTP service discovery), not listed.
    writeFileSync(join(dir, 'ca.pem'), c.ca());
    writeFileSync(join(dir, 'agent-token'), `${(await c.call('POST', '/v1/agent-tokens', { host: 'prometheus' })).json().token}\n`);
    const controllerTarget = new URL(c.url).host;
    writeFileSync(
      join(dir, 'prometheus.yml'),
      readFileSync(join(root, 'compose/prometheus/prometheus.yml'), 'utf8')
        .replaceAll('/var/lib/mesh-share/', `${dir}/`)
        .replaceAll('controller:15012', controllerTarget)
        .replace(/scrape_interval: \d+s/, 'scrape_interval: 1s')
        .replace(/evaluation_interval: \d+s/, 'evaluation_interval: 1s')
        .replace(/refresh_interval: \d+s/, 'refresh_interval: 1s'),
    );
    const port = await freePort();
    promUrl = `http://127.0.0.1:${port}`;
    prometheus = spawn('prometheus', [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let log = '';
    prometheus.stderr!.on('data', (d: Buffer) => (log = (log + String(d)).slice(-4000)));
    try {
      await waitFor('Prometheus to find and scrape all four targets', async () => (await query('up == 1')).length === 4, 30_000, 250);
    } catch (err) {
      throw new Error(`${(err as Error).message}\nPrometheus said: ${log}`);
    }

    // Traffic, config changes, a refused apply, a registration: what the dashboards show.
    await c.call('POST', '/v1/apply', {
      apiVersion: 'networking.istio.io/v1',
      kind: 'VirtualService',
      metadata: { name: 'reviews', namespace: 'default' },
      spec: { hosts: ['reviews'], http: [{ timeout: '3s', route: [{ destination: { host: 'reviews' } }] }] },
    });
    await c.call('POST', '/v1/apply', { apiVersion: 'networking.istio.io/v1', kind: 'VirtualService', metadata: { name: 'bad' }, spec: { hosts: [] } });
    // Through the mesh (mTLS), from a caller outside it and to a workload without a sidecar
    // (plaintext), HTTP and TCP, and answers of every class.
    const deadline = Date.now() + 6000;
    for (let i = 0; Date.now() < deadline; i++) {
      await get(client.ports.upstreams.reviews, i % 5 === 0 ? '/missing' : i % 7 === 0 ? '/broken' : '/reviews/1', { host: 'reviews' });
      await get(server.ports.inbound, '/reviews/plain', { host: 'reviews' });
      await get(client.ports.upstreams.legacy, '/legacy', { host: 'legacy' });
      if (i % 4 === 0) await Promise.all([tcpEcho(client.ports.upstreams.db), tcpEcho(db.ports.inbound), tcpEcho(client.ports.upstreams.legacydb)]);
      await new Promise((r) => setTimeout(r, 50));
    }
  });

  after(async () => {
    prometheus?.kill();
    for (const s of [client, server, db]) await s?.close();
    await new Promise((r) => echo?.close(r));
    await app?.close();
    await c?.close();
  });

  it("answers every query of Istio's control-plane dashboard that istiod's own metrics answer", async () => {
    const controlPlane = queries().filter((q) => q.scope === 'control-plane');
    assert.ok(controlPlane.length >= 10, `${controlPlane.length} control-plane queries`);
    const empty: string[] = [];
    for (const q of controlPlane) if ((await query(q.expr)).length === 0) empty.push(`${q.panel}: ${q.expr}`);
    assert.deepEqual(empty, []);
  });

  it("answers every sidecar query of Istio's dashboards and Kiali's graph, with the labels their readers need", async () => {
    // The workload dashboard's "outgoing, mTLS" series ask the source reporter for mutual_tls,
    // which Istio never reports (the source says unknown; only the destination, which verified
    // the caller, says mutual_tls): they are empty under Istio too, and must be here.
    const askSourceMtls = (q: Query) => (q.expr.match(/\{[^}]*\}/g) ?? []).some((sel) => sel.includes('reporter="source"') && sel.includes('connection_security_policy="mutual_tls"'));
    const sidecar = queries().filter((q) => q.scope === 'sidecar' && !askSourceMtls(q));
    const sourceMtls = queries().filter((q) => q.scope === 'sidecar' && askSourceMtls(q));
    assert.ok(sidecar.length >= 160, `${sidecar.length} sidecar queries`);
    assert.equal(sourceMtls.length, 15);
    for (const q of sourceMtls) assert.deepEqual(await query(q.expr), [], `the source reports connection_security_policy="unknown": ${q.expr}`);
    const empty: string[] = [];
    const lacking: string[] = [];
    for (const q of sidecar) {
      const result = (await query(q.expr)) as { metric: Record<string, string> }[];
      if (result.length === 0) empty.push(`${q.dashboard} / ${q.panel}: ${q.expr}`);
      // Kiali's graph reads these labels off its series, and a dashboard variable fills its
      // dropdown from them: at least one series must carry each (queries.tsv, result_labels).
      const missing = q.resultLabels.filter((l) => !result.some((series) => series.metric[l]));
      if (result.length > 0 && missing.length > 0) lacking.push(`${q.dashboard} / ${q.panel}: ${missing.join(', ')}`);
    }
    process.stdout.write(`# sidecar queries with data: ${sidecar.length - empty.length} of ${sidecar.length}\n`);
    assert.deepEqual(empty, []);
    assert.deepEqual([...new Set(lacking)], []);
  });

  it('found the sidecars through the catalog, labelled with their service and version', async () => {
    const up = (await query('up{job="mesh-sidecars"}')) as { metric: Record<string, string> }[];
    assert.deepEqual(up.map((r) => `${r.metric.service}/${r.metric.version}/${r.metric.instance_id}`).sort(), ['db/v1/db-1', 'productpage/v1/productpage-1', 'reviews/v1/reviews-1']);
  });

  it('the scrape configurations shipped for compose and systemd pass promtool check config', { skip: existsSync('/usr/bin/promtool') ? false : 'promtool is not installed' }, () => {
    for (const file of ['compose/prometheus/prometheus.yml', 'systemd/prometheus.yml']) {
      // Its CA bundle and token files, where it expects them, in a directory of the test's own.
      const dir = mkdtempSync(join(tmpdir(), 'mesh-promcheck-'));
      for (const f of ['ca.pem', 'agent-token', 'mesh-ca.pem', 'mesh-token']) writeFileSync(join(dir, f), 'x\n');
      const text = readFileSync(join(root, file), 'utf8').replaceAll('/var/lib/mesh-share/', `${dir}/`).replaceAll('/etc/prometheus/', `${dir}/`);
      writeFileSync(join(dir, 'prometheus.yml'), text);
      const r = spawnSync('promtool', ['check', 'config', join(dir, 'prometheus.yml')], { encoding: 'utf8' });
      assert.equal(r.status, 0, `${file}: ${r.stdout}${r.stderr}`);
    }
  });

  it('the exposition passes promtool check metrics, but for the unit lint that Istio names draw', { skip: existsSync('/usr/bin/promtool') ? false : 'promtool is not installed' }, async () => {
    for (const url of [`http://127.0.0.1:${server.ports.status}/stats/prometheus`]) {
      const text = await (await fetch(url)).text();
      const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
      const problems = `${r.stdout}${r.stderr}`
        .split('\n')
        .filter((l) => l.trim() && !/should have "_total" suffix|should have a unit suffix|counter metrics should have "_total" suffix|use base unit "seconds" instead of "milliseconds"/.test(l));
      assert.deepEqual(problems, [], url);
    }
  });
});
