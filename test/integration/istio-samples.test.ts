// Istio's own samples, applied unchanged (test/fixtures/istio-samples, a copy of the workplace's
// ../shared/istio-samples): every document a sidecar mesh can serve is accepted, and the ones
// that went wrong for users behave as Istio's task pages say: a deprecated fault field, policies
// naming Bookinfo's service accounts, a dry-run policy, short names in the caller's namespace,
// and documents without a namespace applied with `meshctl apply -n`; and the claim-to-header
// task's RequestAuthentication with the task's own token and keys.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import { join, relative } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Sidecar } from '../../proxy/sidecar.js';
import { get, startApp, type TestApp } from '../helpers/apps.js';
import { startController, type TestController } from '../helpers/controller.js';
import { waitFor } from '../helpers/ports.js';
import { startSidecar } from '../helpers/sidecar.js';
import { runMeshctl } from '../helpers/meshctl.js';

const root = new URL('../../../', import.meta.url).pathname;
const SAMPLES = join(root, 'test/fixtures/istio-samples');
const ORIGINAL = join(root, '../shared/istio-samples');

function yamlFiles(dir: string): string[] {
  return readdirSync(dir)
    .sort()
    .flatMap((f) => {
      const p = join(dir, f);
      return statSync(p).isDirectory() ? yamlFiles(p) : /\.ya?ml$/.test(f) ? [p] : [];
    });
}

describe("Istio's samples, applied unchanged", () => {
  let c: TestController;
  const apps: TestApp[] = [];
  const sidecars: Sidecar[] = [];

  const run = (args: string[]) => runMeshctl(c.dataDir, args);

  const workloads = new Map<string, Promise<{ app: TestApp; sidecar: Sidecar }>>();

  /** A workload: an app that echoes what it saw, its sidecar, and its catalog registration; made once per service and namespace. */
  function workload(service: string, namespace: string, opts: { serviceAccount?: string; upstreams?: string[]; version?: string; capture?: boolean } = {}) {
    const key = `${service}-${namespace}`;
    const made = workloads.get(key) ?? startWorkload(service, namespace, opts);
    workloads.set(key, made);
    return made;
  }

  async function startWorkload(service: string, namespace: string, opts: { serviceAccount?: string; upstreams?: string[]; version?: string; capture?: boolean }) {
    const app = await startApp(`${service}.${namespace}`);
    apps.push(app);
    const id = `${service}-${namespace}`;
    const sidecar = await startSidecar(
      c,
      service,
      app.port,
      { proxyId: id, namespace, upstreams: (opts.upstreams ?? []).map((s) => ({ port: 0, service: s })), ...(opts.capture ? { outboundPort: 0 } : {}) },
      { serviceAccount: opts.serviceAccount },
    );
    sidecars.push(sidecar);
    const registered = await c.call('POST', '/v1/catalog/instances', {
      id,
      service,
      namespace,
      address: '127.0.0.1',
      port: app.port,
      protocol: 'http',
      labels: { version: opts.version ?? 'v1' },
      sidecar: { inboundPort: sidecar.ports.inbound },
      ...(opts.serviceAccount ? { serviceAccount: opts.serviceAccount } : {}),
    });
    assert.ok(registered.status < 300, registered.text);
    return { app, sidecar };
  }

  before(async () => {
    c = await startController();
  });

  after(async () => {
    for (const s of sidecars) await s.close();
    for (const a of apps) await a.close();
    await c?.close();
  });

  it('the copy in the repository is the workplace original, byte for byte', { skip: existsSync(ORIGINAL) ? false : 'the original is not beside this clone' }, () => {
    for (const f of yamlFiles(ORIGINAL)) assert.equal(readFileSync(join(SAMPLES, relative(ORIGINAL, f)), 'utf8'), readFileSync(f, 'utf8'), relative(ORIGINAL, f));
  });

  it("the copy of Istio's dashboard queries is the workplace original too", { skip: existsSync(join(root, '../shared/istio-dashboards')) ? false : 'the original is not beside this clone' }, () => {
    for (const f of ['README.md', 'queries.tsv'])
      assert.equal(readFileSync(join(root, 'test/fixtures/istio-dashboards', f), 'utf8'), readFileSync(join(root, '../shared/istio-dashboards', f), 'utf8'), f);
  });

  it('accepts every sample a sidecar mesh serves, each file as it is', async () => {
    const files = yamlFiles(SAMPLES).filter((f) => !f.includes('/gateways/'));
    assert.ok(files.length >= 45, `${files.length} sample files`);
    const refused: string[] = [];
    for (const f of files) {
      const r = await run(['apply', '-f', f, ...(f.includes('authz-dry-run') ? ['-n', 'foo'] : [])]);
      if (r.code !== 0) refused.push(`${relative(SAMPLES, f)}: ${r.err.trim()}`);
    }
    assert.deepEqual(refused, []);
    // Leave nothing applied for the behaviours below.
    for (const kind of ['virtualservice', 'destinationrule', 'serviceentry', 'peerauthentication', 'authorizationpolicy', 'requestauthentication']) {
      const { items } = (await c.call('GET', `/v1/resources/${kind}`)).json<{ items: { metadata: { namespace: string; name: string } }[] }>();
      for (const r of items) await c.call('DELETE', `/v1/resources/${kind}/${r.metadata.namespace}/${r.metadata.name}`);
    }
  });

  it('reads the deprecated fault.delay.percent as Istio does, says so, and delays', async () => {
    const ratings = await workload('ratings', 'default');
    const reviews = await workload('reviews', 'default', { upstreams: ['ratings'] });
    await c.call('POST', '/v1/apply', 'apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: ratings}\nspec:\n  host: ratings\n  subsets: [{name: v1, labels: {version: v1}}]\n');
    const applied = await run(['apply', '-f', join(SAMPLES, 'tasks/request-timeouts/2-ratings-delay-2s.yaml')]);
    assert.equal(applied.code, 0, applied.err);
    assert.match(applied.err, /Warning: .*spec\.http\[0\]\.fault\.delay\.percent is deprecated in Istio; read as percentage\.value: 100/);
    await waitFor('the delay at reviews', () => reviews.sidecar.snapshot?.outbound.services.find((s) => s.name === 'ratings')?.httpRoutes[0]?.fault?.delay !== undefined, 5000);
    const started = Date.now();
    const r = await get(reviews.sidecar.ports.upstreams.ratings, '/ratings/0', { host: 'ratings' });
    assert.equal(r.status, 200);
    assert.ok(Date.now() - started >= 1900, `answered after ${Date.now() - started} ms`);
    assert.equal(r.json().app, 'ratings.default');
    await c.call('DELETE', '/v1/resources/virtualservice/default/ratings');
    void ratings;
  });

  it("enforces authz-http's principals once workloads carry Bookinfo's service accounts", async () => {
    const details = await workload('details', 'default', { serviceAccount: 'bookinfo-details' });
    const productpage = await workload('productpage', 'default', { serviceAccount: 'bookinfo-productpage', upstreams: ['details'] });
    const other = await workload('curl', 'default', { upstreams: ['details'] });
    for (const f of ['1-allow-nothing.yaml', '3-details-viewer.yaml']) {
      const r = await run(['apply', '-f', join(SAMPLES, 'tasks/authz-http', f)]);
      assert.equal(r.code, 0, r.err);
    }
    await waitFor('the policies at details', () => (details.sidecar.snapshot?.inbound.authorization.allow.length ?? 0) === 2, 5000);
    await waitFor('productpage to know details', () => productpage.sidecar.snapshot?.outbound.services.some((s) => s.name === 'details'), 5000);
    await waitFor('curl to know details', () => other.sidecar.snapshot?.outbound.services.some((s) => s.name === 'details'), 5000);
    const allowed = await get(productpage.sidecar.ports.upstreams.details, '/details/0', { host: 'details' });
    assert.equal(allowed.status, 200, allowed.body);
    assert.match(String(allowed.json().xfcc), /URI=spiffe:\/\/cluster\.local\/ns\/default\/sa\/bookinfo-productpage$/);
    const denied = await get(other.sidecar.ports.upstreams.details, '/details/0', { host: 'details' });
    assert.equal(denied.status, 403);
    for (const name of ['allow-nothing', 'details-viewer']) await c.call('DELETE', `/v1/resources/authorizationpolicy/default/${name}`);
  });

  it('a dry-run DENY policy is reported, never enforced', async () => {
    const httpbin = await workload('httpbin', 'foo');
    const curl = await workload('curl', 'foo', { upstreams: ['httpbin'] });
    const r = await run(['apply', '-n', 'foo', '-f', join(SAMPLES, 'tasks/authz-dry-run/1-deny-path-headers-dry-run.yaml')]);
    assert.equal(r.code, 0, r.err);
    await waitFor('the dry-run policy at httpbin', () => httpbin.sidecar.snapshot?.inbound.authorization.dryRun?.deny.length === 1, 5000);
    await waitFor('curl to know httpbin', () => curl.sidecar.snapshot?.outbound.services.some((s) => s.name === 'httpbin'), 5000);
    for (let i = 0; i < 5; i++) assert.equal((await get(curl.sidecar.ports.upstreams.httpbin, '/headers', { host: 'httpbin' })).status, 200);
    assert.match(httpbin.sidecar.metricsText(), /mesh_proxy_authz_dry_run_total\{action="DENY",result="denied",policy="foo\/deny-path-headers"\} 5/);
    assert.equal((await get(curl.sidecar.ports.upstreams.httpbin, '/ip', { host: 'httpbin' })).status, 200);
    assert.match(httpbin.sidecar.metricsText(), /mesh_proxy_authz_dry_run_total\{action="DENY",result="allowed",policy=""\} 1/);
  });

  it("copies a JWT claim to a header as Istio's claim-to-header task says, with the task's token and keys", async () => {
    // The task's RequestAuthentication (istio/istio.io content/en/docs/tasks/security/authentication/
    // claim-to-header/index.md @ 0e750fa3f436ad49acd541c2ec0cd126f5bf7e6a), its jwksUri pointed at a
    // local copy of the file it names (security/tools/jwt/samples/jwks.json, test/fixtures).
    const keys = createServer((_req, res) => res.end(readFileSync(join(SAMPLES, 'jwt/jwks.json'))));
    await new Promise<void>((r) => keys.listen(0, '127.0.0.1', r));
    const jwksUri = `http://127.0.0.1:${(keys.address() as { port: number }).port}/security/tools/jwt/samples/jwks.json`;
    const task = `apiVersion: security.istio.io/v1beta1
kind: RequestAuthentication
metadata:
  name: "jwt-example"
  namespace: foo
spec:
  selector:
    matchLabels:
      app: httpbin
  jwtRules:
  - issuer: "testing@secure.istio.io"
    jwksUri: "${jwksUri}"
    outputClaimToHeaders:
    - header: "x-jwt-claim-foo"
      claim: "foo"
`;
    try {
      const httpbin = await workload('httpbin', 'foo');
      const sleep = await workload('curl', 'foo', { upstreams: ['httpbin'] });
      const applied = await runMeshctl(c.dataDir, ['apply', '-f', '-'], task);
      assert.equal(applied.code, 0, applied.err);
      await waitFor('the rule at httpbin', () => httpbin.sidecar.snapshot?.inbound.jwtRules[0]?.outputClaimToHeaders?.[0]?.header === 'x-jwt-claim-foo', 5000);
      await waitFor('curl to know httpbin', () => sleep.sidecar.snapshot?.outbound.services.some((s) => s.name === 'httpbin'), 5000);
      const call = (headers: Record<string, string>) => get(sleep.sidecar.ports.upstreams.httpbin, '/headers', { host: 'httpbin', ...headers });
      // "Verify that a request with an invalid JWT is denied": 401.
      assert.equal((await call({ authorization: 'Bearer invalidToken' })).status, 401);
      // "Verify that a request with a valid JWT is allowed" and "contains a valid http header with JWT claim value".
      const token = readFileSync(join(SAMPLES, 'jwt/demo.jwt'), 'utf8').trim();
      const valid = await call({ authorization: `Bearer ${token}` });
      assert.equal(valid.status, 200, valid.body);
      assert.equal(valid.json().headers['x-jwt-claim-foo'], 'bar');
      // A caller cannot set the header itself: without a token its copy is removed, with one replaced.
      assert.equal((await call({ 'x-jwt-claim-foo': 'forged' })).json().headers['x-jwt-claim-foo'], undefined);
      assert.equal((await call({ 'x-jwt-claim-foo': 'forged', authorization: `Bearer ${token}` })).json().headers['x-jwt-claim-foo'], 'bar');
    } finally {
      await c.call('DELETE', '/v1/resources/requestauthentication/foo/jwt-example');
      keys.close();
    }
  });

  it("resolves a short name in the caller's namespace, and name.namespace across namespaces", async () => {
    await workload('httpbin', 'bar');
    const sleep = await workload('sleep', 'foo', { capture: true });
    await waitFor('sleep to know both httpbins', () => sleep.sidecar.snapshot?.outbound.services.filter((s) => s.name === 'httpbin').length === 2, 5000);
    // The capture listener routes by the Host header, as for an application's traffic that iptables redirects.
    const ask = async (host: string) => (await get(sleep.sidecar.ports.outbound, '/get', { host })).json().app as string;
    assert.equal(await ask('httpbin'), 'httpbin.foo');
    assert.equal(await ask('httpbin.foo'), 'httpbin.foo');
    assert.equal(await ask('httpbin.bar'), 'httpbin.bar');
    assert.equal(await ask('httpbin.bar.svc.cluster.local'), 'httpbin.bar');
  });

  it('meshctl apply -n puts documents that name no namespace there, and refuses one that names another', async () => {
    const applied = await run(['apply', '-n', 'foo', '-f', join(SAMPLES, 'tasks/authz-dry-run/1-deny-path-headers-dry-run.yaml')]);
    assert.equal(applied.code, 0, applied.err);
    assert.match(applied.out, /authorizationpolicy\/deny-path-headers \(foo\) (created|configured|unchanged)/);
    assert.match((await run(['get', 'ap', '-n', 'foo'])).out, /foo\s+deny-path-headers/);
    assert.doesNotMatch((await run(['get', 'ap'])).out, /deny-path-headers/, 'get without -n looks in default');
    assert.match((await run(['get', 'ap', '-A'])).out, /foo\s+deny-path-headers/);
    const clash = await run(['apply', '-n', 'bar', '-f', join(SAMPLES, 'tasks/authz-http/2-productpage-viewer.yaml')]);
    assert.equal(clash.code, 1);
    assert.match(clash.err, /metadata.namespace: is "default", but -n says "bar"/);
  });
});
