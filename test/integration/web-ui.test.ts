// The controller's web UI in a real headless Chromium (Debian's package, driven by puppeteer-core)
// against a live mesh: a controller, two sidecars and traffic between them. The page is opened
// from the address `meshctl dashboard` prints; the browser trusts the controller's certificate by
// its public key only. The screenshot is left in MESH_UI_SCREENSHOT (or the test's directory).
import assert from 'node:assert/strict';
import { createHash, X509Certificate } from 'node:crypto';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { after, before, describe, it } from 'node:test';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import type { Sidecar } from '../../proxy/sidecar.js';
import { get, startApp, type TestApp } from '../helpers/apps.js';
import { registerInstance } from '../helpers/catalog.js';
import { startController, type TestController } from '../helpers/controller.js';
import { runMeshctl } from '../helpers/meshctl.js';
import { waitFor } from '../helpers/ports.js';
import { startSidecar } from '../helpers/sidecar.js';

const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));

/** base64 SHA-256 of the controller certificate's public key, for --ignore-certificate-errors-spki-list. */
function spkiPin(url: string, ca: string): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const s = connect({ host: hostname, port: Number(port), ca, servername: 'localhost' }, () => {
      const cert = new X509Certificate(s.getPeerX509Certificate()!.raw);
      s.end();
      resolve(
        createHash('sha256')
          .update(cert.publicKey.export({ type: 'spki', format: 'der' }))
          .digest('base64'),
      );
    });
    s.on('error', reject);
  });
}

describe('the web UI in a real Chromium', { skip: CHROMIUM ? false : 'chromium is not installed (scripts/install-test-deps.sh installs it)' }, () => {
  let c: TestController;
  let app: TestApp;
  let reviews: Sidecar;
  let productpage: Sidecar;
  let browser: Browser;
  let page: Page;
  let dashboardUrl = '';
  const shots = process.env.MESH_UI_SCREENSHOT ?? join(mkdtempSync(join(tmpdir(), 'mesh-ui-')), 'mesh-graph.png');

  before(async () => {
    c = await startController({ telemetryWindow: '60s' });
    app = await startApp('reviews', (path) => (path === '/broken' ? 503 : 200));
    reviews = await startSidecar(c, 'reviews', app.port);
    await registerInstance(c, 'reviews-1', 'reviews', app.port, { sidecar: reviews });
    productpage = await startSidecar(c, 'productpage', 1, { proxyId: 'productpage-1', upstreams: [{ port: 0, service: 'reviews' }], telemetryIntervalMs: 200 });
    await registerInstance(c, 'productpage-1', 'productpage', 1, { sidecar: productpage });
    // A policy that selects reviews, and a DestinationRule for a host that names nothing (a finding).
    await c.call('POST', '/v1/apply', {
      apiVersion: 'security.istio.io/v1',
      kind: 'AuthorizationPolicy',
      metadata: { name: 'reviews-viewer', namespace: 'default' },
      spec: { selector: { matchLabels: { app: 'reviews' } }, action: 'ALLOW', rules: [{ from: [{ source: { principals: ['cluster.local/ns/default/sa/productpage'] } }] }] },
    });
    await c.call('POST', '/v1/apply', { apiVersion: 'networking.istio.io/v1', kind: 'DestinationRule', metadata: { name: 'ghost', namespace: 'default' }, spec: { host: 'ghost' } });
    await waitFor('reviews at productpage', () => productpage.snapshot?.outbound.services.some((s) => s.name === 'reviews') ?? false, 5000);
    for (let i = 0; i < 40; i++) await get(productpage.ports.upstreams.reviews, i % 10 === 0 ? '/broken' : `/reviews/${i}`, { host: 'reviews' });
    await waitFor('the edge in the controller', async () => ((await c.call('GET', '/v1/telemetry/edges')).json().edges as unknown[]).length > 0, 5000);
    // A sidecar says what it applied a second later (core/snapshot/deferred-ack.ts).
    const synced = async () => ((await c.call('GET', '/v1/proxies')).json().proxies as { status: string }[]).filter((p) => p.status === 'SYNCED').length;
    await waitFor('both sidecars to say they hold their snapshots', async () => (await synced()) === 2, 5000);

    const run = await runMeshctl(c.dataDir, ['dashboard', '--no-browser']);
    assert.equal(run.code, 0, run.err);
    dashboardUrl = run.out.split('\n')[0];
    browser = await puppeteer.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-dev-shm-usage', `--ignore-certificate-errors-spki-list=${await spkiPin(c.url, c.ca())}`],
    });
    page = await browser.newPage();
    await page.setViewport({ width: 1280, height: 900 });
  });

  after(async () => {
    await browser?.close();
    for (const s of [productpage, reviews]) await s?.close();
    await app?.close();
    await c?.close();
  });

  it('meshctl dashboard prints the UI address with the token in the fragment only', () => {
    const url = new URL(dashboardUrl);
    assert.equal(`${url.origin}${url.pathname}`, `${c.url}/ui/`);
    assert.equal(url.search, '');
    assert.equal(url.hash, `#token=${c.adminToken}`);
  });

  it('draws the services and the call between them with its rate, errors, p99 and mTLS', async () => {
    await page.goto(dashboardUrl);
    const row = 'tr[data-edge="default/productpage default/reviews"]';
    await page.waitForSelector(row, { timeout: 15_000 });
    const cells = await page.$$eval(`${row} td`, (tds) => tds.map((td) => td.textContent ?? ''));
    assert.equal(cells[0], 'default/productpage');
    assert.equal(cells[1], 'default/reviews');
    assert.ok(Number(cells[2]) > 0, `a rate: ${cells[2]}`);
    assert.match(cells[3], /^\d+(\.\d+)?%$/);
    assert.ok(parseFloat(cells[3]) > 0, `the 503s count as errors: ${cells[3]}`);
    assert.ok(Number(cells[4]) > 0, `a p99: ${cells[4]}`);
    assert.equal(cells[5], '100.0%', 'every call went over mTLS');
    // The graph itself (Cytoscape on a canvas): both services as nodes, the call as an edge with its label.
    const graph = await page.evaluate(() => {
      const g = (globalThis as unknown as { cy: { nodes(): { map<T>(f: (n: { id(): string }) => T): T[] }; edges(): { map<T>(f: (e: { data(k: string): string }) => T): T[] } } }).cy;
      return { nodes: g.nodes().map((n) => n.id()), edges: g.edges().map((e) => e.data('label')) };
    });
    assert.ok(graph.nodes.includes('default/productpage') && graph.nodes.includes('default/reviews'), graph.nodes.join(', '));
    assert.equal(graph.edges.length, 1);
    assert.match(graph.edges[0], /rps · [\d.]+% err · p99 [\d.]+ ms · mTLS$/);
    // The token left the address bar once read.
    assert.equal(new URL(page.url()).hash, '');
  });

  it('shows the configuration findings', async () => {
    const text = await page.$eval('#findings', (t) => t.textContent ?? '');
    assert.match(text, /MSH0102.*DestinationRule default\/ghost/s);
  });

  it('shows a service: its instances, whether their proxies are synced, and the resources that apply', async () => {
    await page.evaluate(() => (globalThis as unknown as { cy: { getElementById(id: string): { emit(e: string): void } } }).cy.getElementById('default/reviews').emit('tap'));
    await page.waitForFunction(() => document.querySelector('#detail')?.textContent?.includes('reviews-1'), { timeout: 5000 });
    const detail = await page.$eval('#detail', (d) => d.textContent ?? '');
    assert.match(detail, /reviews\.default\.svc\.cluster\.local/);
    assert.match(detail, /reviews-1reviews-v1127\.0\.0\.1:\d+SYNCED/);
    assert.match(detail, /AuthorizationPolicydefault\/reviews-viewerselects it/);
    await page.screenshot({ path: shots, fullPage: true });
    process.stdout.write(`# screenshot: ${shots}\n`);
  });

  it('meshctl x describe shows the same for a service and for one of its workloads', async () => {
    const svc = await runMeshctl(c.dataDir, ['x', 'describe', 'service', 'reviews']);
    assert.equal(svc.code, 0, svc.err);
    assert.match(svc.out, /^Service: +reviews$/m);
    assert.match(svc.out, /^Host: +reviews\.default\.svc\.cluster\.local$/m);
    assert.match(svc.out, /reviews-1 +reviews-v1 +127\.0\.0\.1:\d+ +yes +SYNCED/);
    assert.match(svc.out, /AuthorizationPolicy +default\/reviews-viewer +selects it/);
    const wl = await runMeshctl(c.dataDir, ['x', 'describe', 'workload', 'reviews-v1', '-o', 'json']);
    assert.equal(wl.code, 0, wl.err);
    const d = JSON.parse(wl.out) as { workload: string; service: string; instances: { id: string }[] };
    assert.deepEqual([d.workload, d.service, d.instances.map((i) => i.id)], ['reviews-v1', 'reviews', ['reviews-1']]);
    const missing = await runMeshctl(c.dataDir, ['x', 'describe', 'service', 'ratings']);
    assert.equal(missing.code, 1);
    assert.match(missing.err, /no service default\/ratings with healthy instances/);
  });

  it('asks for the token without one, and the API refuses the page without it', async () => {
    const fresh = await browser.createBrowserContext();
    const p = await fresh.newPage();
    await p.goto(`${c.url}/ui/`);
    await p.waitForSelector('#login:not([hidden])', { timeout: 5000 });
    const status = await p.evaluate(async () => (await fetch('/v1/mesh/graph')).status);
    assert.equal(status, 401);
    await p.type('#token', 'not-the-token');
    await p.click('#login button');
    await p.waitForFunction(() => document.querySelector('#status')?.classList.contains('error'), { timeout: 5000 });
    assert.match(await p.$eval('#status', (s) => s.textContent ?? ''), /token|credential|authent/i);
    await fresh.close();
  });

  it('serves the page with headers that keep other sites and scripts out', async () => {
    const r = await c.call('GET', '/ui/', undefined, null);
    assert.equal(r.status, 200);
    assert.match(String(r.headers['content-security-policy']), /default-src 'none'; script-src 'self'/);
    assert.match(String(r.headers['content-security-policy']), /frame-ancestors 'none'/);
    assert.equal(r.headers['x-frame-options'], 'DENY');
    assert.equal((await c.call('GET', '/ui/../admin-token', undefined, null)).status, 404);
    assert.equal((await c.call('GET', '/ui/package.json', undefined, null)).status, 404);
  });
});
