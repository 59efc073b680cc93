// The whole path with traffic capture: two network namespaces stand in for two hosts. On each,
// an application that knows nothing of the mesh, and a real mesh-proxy running as UID 1337 with
// capture rules installed. The client app calls `http://reviews:9080/` by name; the call is
// captured, routed by its Host header, carried over mTLS to the other host's sidecar, and
// delivered to the server app, while the sidecars' own traffic is not looped back.
import assert from 'node:assert/strict';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, writeFileSync, rmSync, copyFileSync } from 'node:fs';
import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { IptablesInterceptor } from '../../agent/interception/iptables.js';
import { readable } from '../helpers/ports.js';
import { joinedHosts, netnsAvailable, nodeIn, nodeOutput, removeHosts, uniqueName, waitReady } from '../helpers/netns.js';

const unavailable = netnsAvailable();
const root = new URL('../../../', import.meta.url).pathname;
const PROXY_UID = 1337;

describe('mesh with traffic capture across two network-namespace hosts', { skip: unavailable }, () => {
  const hostA = uniqueName('mesh-a');
  const hostB = uniqueName('mesh-b');
  const procs: ChildProcess[] = [];
  const work = mkdtempSync(join(tmpdir(), 'mesh-capture-'));
  const ctlDir = join(work, 'controller');
  const spec = { proxyUid: PROXY_UID, workloads: [{ inboundPort: 15006, outboundPort: 15001, appPorts: [9080] }], excludeInboundPorts: [15000], excludeOutboundPorts: [15012], excludeOutboundCidrs: [] };

  const inA = (args: string[]) => procs.push(spawnIn(hostA, args)) && procs[procs.length - 1];
  const api = (method: string, path: string, body?: unknown) =>
    nodeOutput(
      hostA,
      `import https from 'node:https'; import fs from 'node:fs';
const req = https.request('https://10.254.8.1:15012${path}', { method: '${method}', ca: fs.readFileSync('${ctlDir}/ca.pem'), headers: { authorization: 'Bearer ' + fs.readFileSync('${ctlDir}/admin-token', 'utf8').trim(), 'content-type': 'application/json' } }, (res) => { let t = ''; res.on('data', (d) => (t += d)); res.on('end', () => console.log(t)); });
req.on('error', (e) => console.log(JSON.stringify({ error: e.message })));
req.end(${body === undefined ? '' : JSON.stringify(JSON.stringify(body))});`,
    );

  before(async () => {
    chmodSync(work, 0o755); // the sidecars run as UID 1337 and read the CA bundle from here
    joinedHosts({ name: hostA, ip: '10.254.8.1' }, { name: hostB, ip: '10.254.8.2' });
    // The controller lives on host A.
    const ctl = inA([join(root, 'dist/controller/main.js'), '--data-dir', ctlDir, '--listen', '0.0.0.0:15012', '--api-name', '10.254.8.1', '--log-level', 'warn']);
    await waitFor(() => readable(join(ctlDir, 'ca.pem')), 'the controller');
    void ctl;
    const ca = join(work, 'ca.pem');
    copyFileSync(join(ctlDir, 'ca.pem'), ca);

    // Applications: reviews on host B answers who called it; productpage on host A calls reviews by name.
    procs.push(nodeIn(hostB, `import http from 'node:http'; http.createServer((q, r) => r.end(JSON.stringify({ app: 'reviews', caller: q.headers['x-forwarded-client-cert'] ?? null, host: q.headers.host }))).listen(9080, '0.0.0.0', () => console.log('ready'));`));
    await waitReady(procs[procs.length - 1]);

    // Sidecars as UID 1337, each with its capture rules, then registered as the agent does.
    for (const [ns, service, address] of [[hostA, 'productpage', '10.254.8.1'], [hostB, 'reviews', '10.254.8.2']] as const) {
      const answer = JSON.parse(await api('POST', '/v1/tokens', { service })) as { token?: string; error?: string };
      if (!answer.token) throw new Error(`no bootstrap token for ${service}: ${JSON.stringify(answer)}`);
      const token = answer.token;
      const dataDir = join(work, `proxy-${service}`);
      mkdirSync(dataDir, { recursive: true });
      chownSync(dataDir, PROXY_UID, PROXY_UID);
      await new IptablesInterceptor(ns).apply(spec);
      procs.push(
        spawnIn(ns, [
          join(root, 'dist/proxy/main.js'), '--controller', 'https://10.254.8.1:15012', '--ca-file', ca, '--bootstrap-token', token, '--service', service,
          '--proxy-id', `${service}-1`, '--data-dir', dataDir, '--app-port', '9080', '--inbound-port', '15006', '--outbound-port', '15001', '--admin-port', '15000', '--log-level', 'warn',
        ], PROXY_UID),
      );
      await waitFor(async () => (await nodeOutput(ns, `fetch('http://127.0.0.1:15000/ready').then((r) => console.log(r.status), () => console.log(0));`)) === '200', `the ${service} sidecar`);
      await api('POST', '/v1/catalog/instances', { id: `${service}-1`, service, address, port: 9080, protocol: 'http', sidecar: { inboundPort: 15006, adminPort: 15000 } });
    }
    // Name resolution on host A, as a VM's /etc/hosts or DNS would give it.
    mkdirSync(`/etc/netns/${hostA}`, { recursive: true });
    writeFileSync(`/etc/netns/${hostA}/hosts`, '127.0.0.1 localhost\n10.254.8.2 reviews\n');
    await waitFor(async () => (await nodeOutput(hostA, `fetch('http://127.0.0.1:15000/config_dump').then((r) => r.json()).then((s) => console.log(s.outbound.services.find((x) => x.name === 'reviews')?.clusters[0].endpoints.length ?? 0));`)) === '1', 'productpage to learn the reviews endpoint');
  });

  after(() => {
    for (const p of procs) p.kill('SIGKILL');
    removeHosts(hostA, hostB);
    rmSync(`/etc/netns/${hostA}`, { recursive: true, force: true });
  });

  it('carries a call by name from an unmodified app through both sidecars over mTLS', async () => {
    const out = await nodeOutput(hostA, `fetch('http://reviews:9080/ratings').then((r) => r.text()).then(console.log, (e) => console.log('failed: ' + e.message));`);
    const seen = JSON.parse(out) as { app: string; caller: string | null; host: string };
    assert.equal(seen.app, 'reviews');
    assert.equal(seen.caller, 'By=spiffe://cluster.local/ns/default/sa/reviews;URI=spiffe://cluster.local/ns/default/sa/productpage', 'both sidecars were on the path, with mTLS between them');
  });

  it("captures inbound traffic to the app's port even from callers outside the mesh", async () => {
    const out = await nodeOutput(hostA, `fetch('http://10.254.8.2:9080/direct').then((r) => r.text()).then(console.log, (e) => console.log('failed: ' + e.message));`, { uid: PROXY_UID });
    const seen = JSON.parse(out) as { caller: string | null };
    assert.equal(seen.caller, null, 'plaintext (PERMISSIVE) through the inbound sidecar: no client certificate');
    const metrics = await nodeOutput(hostB, `fetch('http://127.0.0.1:15000/stats/prometheus').then((r) => r.text()).then(console.log);`);
    assert.match(metrics, /istio_requests_total\{reporter="destination",[^}]*connection_security_policy="none"\} 1/);
    assert.match(metrics, /istio_requests_total\{reporter="destination",source_workload="productpage",[^}]*connection_security_policy="mutual_tls"\} 1/);
  });
});

function spawnIn(netns: string, args: string[], uid?: number): ChildProcess {
  const user = uid !== undefined ? ['setpriv', `--reuid=${uid}`, `--regid=${uid}`, '--clear-groups'] : [];
  return spawn('ip', ['netns', 'exec', netns, ...user, process.execPath, ...args], { stdio: ['ignore', 'ignore', 'inherit'] });
}


async function waitFor(check: () => boolean | Promise<boolean>, what: string, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}
