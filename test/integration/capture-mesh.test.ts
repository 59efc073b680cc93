// The whole path with traffic capture: network namespaces stand in for hosts. On each, an
// application that knows nothing of the mesh, and a real mesh-proxy running as UID 1337 with
// capture rules installed. The client app on host A calls `http://reviews:9080/` by name; the
// call is captured, routed by its Host header, carried over mTLS to host B's sidecar, and
// delivered to the server app, while the sidecars' own traffic is not looped back. Raw TCP is
// routed by the address the app dialled (SO_ORIGINAL_DST): to host C's database, a TCP service
// of the mesh, over mTLS; to servers on host B that are not in the mesh, passed through.
import assert from 'node:assert/strict';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, writeFileSync, rmSync, copyFileSync } from 'node:fs';
import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { hostFamilies, IptablesInterceptor } from '../../agent/interception/iptables.js';
import { readable } from '../helpers/ports.js';
import { joinedHosts, linkHosts, netnsAvailable, nodeIn, nodeOutput, removeHosts, sh, uniqueName, waitReady } from '../helpers/netns.js';

const unavailable = netnsAvailable();
const root = new URL('../../../', import.meta.url).pathname;
const PROXY_UID = 1337;

describe('mesh with traffic capture across two network-namespace hosts', { skip: unavailable }, () => {
  const hostA = uniqueName('mesh-a');
  const hostB = uniqueName('mesh-b');
  const hostC = uniqueName('mesh-c');
  const procs: ChildProcess[] = [];
  const work = mkdtempSync(join(tmpdir(), 'mesh-capture-'));
  const ctlDir = join(work, 'controller');
  const spec = (appPort: number) => ({
    proxyUid: PROXY_UID,
    workloads: [{ inboundPort: 15006, outboundPort: 15001, appPorts: [appPort] }],
    excludeInboundPorts: [15000],
    excludeOutboundPorts: [15012],
    excludeOutboundCidrs: [],
  });
  const sidecarProcs = new Map<string, ChildProcess>();
  const proxyArgs = (service: string, appPort: number, extra: string[] = []) => [
    join(root, 'dist/proxy/main.js'),
    '--controller',
    'https://10.254.8.1:15012',
    '--ca-file',
    join(work, 'ca.pem'),
    '--service',
    service,
    '--proxy-id',
    `${service}-1`,
    '--data-dir',
    join(work, `proxy-${service}`),
    '--app-port',
    String(appPort),
    '--inbound-port',
    '15006',
    '--outbound-port',
    '15001',
    '--admin-port',
    '15000',
    '--log-level',
    'warn',
    '--protocol-detection-timeout',
    '300ms',
    ...extra,
  ];
  const ready = (ns: string, what: string) =>
    waitFor(async () => (await nodeOutput(ns, `fetch('http://127.0.0.1:15000/ready').then((r) => console.log(r.status), () => console.log(0));`)) === '200', what);
  const metricsOf = (ns: string) => nodeOutput(ns, `fetch('http://127.0.0.1:15000/stats/prometheus').then((r) => r.text()).then(console.log);`);

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
    joinedHosts({ name: hostA, ip: '10.254.8.1', ip6: 'fd00:254:8::1' }, { name: hostB, ip: '10.254.8.2', ip6: 'fd00:254:8::2' });
    // Host C hangs off host A, and reaches the controller on A's first address through it.
    sh('ip', 'netns', 'add', hostC);
    linkHosts({ name: hostA, ip: '10.254.9.1' }, { name: hostC, ip: '10.254.9.2' });
    sh('ip', '-n', hostC, 'route', 'add', '10.254.8.0/24', 'via', '10.254.9.1');
    // The controller lives on host A.
    const ctl = inA([join(root, 'dist/controller/main.js'), '--data-dir', ctlDir, '--listen', '0.0.0.0:15012', '--api-name', '10.254.8.1', '--log-level', 'warn']);
    await waitFor(() => readable(join(ctlDir, 'ca.pem')), 'the controller');
    void ctl;
    const ca = join(work, 'ca.pem');
    copyFileSync(join(ctlDir, 'ca.pem'), ca);

    // Applications: reviews on host B answers who called it; productpage on host A calls reviews by name.
    procs.push(
      nodeIn(
        hostB,
        `import http from 'node:http'; http.createServer((q, r) => r.end(JSON.stringify({ app: 'reviews', caller: q.headers['x-forwarded-client-cert'] ?? null, host: q.headers.host }))).listen(9080, '0.0.0.0', () => console.log('ready'));`,
      ),
    );
    await waitReady(procs[procs.length - 1]);
    // The database on host C speaks first (a banner), as MySQL and SMTP do, and says who it sees.
    procs.push(
      nodeIn(
        hostC,
        `import net from 'node:net'; net.createServer((c) => { c.write('db ready\\n'); c.on('data', (d) => { if (String(d).includes('ping')) c.write('pong to ' + c.remoteAddress + '\\n'); }); }).listen(5432, '0.0.0.0', () => console.log('ready'));`,
      ),
    );
    await waitReady(procs[procs.length - 1]);
    // Host B also runs two servers that are not in the mesh (their ports are not captured there):
    // one that answers what the client sends, and one that speaks first.
    procs.push(nodeIn(hostB, `import net from 'node:net'; net.createServer((c) => c.on('data', (d) => c.write('echo: ' + d))).listen(7000, '0.0.0.0', () => console.log('ready'));`));
    await waitReady(procs[procs.length - 1]);
    procs.push(nodeIn(hostB, `import net from 'node:net'; net.createServer((c) => c.write('220 outside ready\\n')).listen(7001, '0.0.0.0', () => console.log('ready'));`));
    await waitReady(procs[procs.length - 1]);

    // Sidecars as UID 1337, each with its capture rules, then registered as the agent does.
    const workloads = [
      [hostA, 'productpage', '10.254.8.1', 9080, 'http'],
      [hostB, 'reviews', '10.254.8.2', 9080, 'http'],
      [hostC, 'db', '10.254.9.2', 5432, 'tcp'],
    ] as const;
    for (const [ns, service, address, appPort, protocol] of workloads) {
      const answer = JSON.parse(await api('POST', '/v1/tokens', { service })) as { token?: string; error?: string };
      if (!answer.token) throw new Error(`no bootstrap token for ${service}: ${JSON.stringify(answer)}`);
      const token = answer.token;
      const dataDir = join(work, `proxy-${service}`);
      mkdirSync(dataDir, { recursive: true });
      chownSync(dataDir, PROXY_UID, PROXY_UID);
      await new IptablesInterceptor(ns, hostFamilies()).apply(spec(appPort));
      const proc = spawnIn(ns, proxyArgs(service, appPort, ['--bootstrap-token', token]), PROXY_UID);
      procs.push(proc);
      sidecarProcs.set(service, proc);
      await ready(ns, `the ${service} sidecar`);
      await api('POST', '/v1/catalog/instances', { id: `${service}-1`, service, address, port: appPort, protocol, sidecar: { inboundPort: 15006, statusPort: 15020 } });
    }
    // Name resolution on host A, as a VM's /etc/hosts or DNS would give it.
    mkdirSync(`/etc/netns/${hostA}`, { recursive: true });
    writeFileSync(`/etc/netns/${hostA}/hosts`, '127.0.0.1 localhost\n10.254.8.2 reviews\n');
    await waitFor(
      async () =>
        (await nodeOutput(
          hostA,
          `fetch('http://127.0.0.1:15000/config_dump').then((r) => r.json()).then((s) => console.log(['reviews', 'db'].map((n) => s.outbound.services.find((x) => x.name === n)?.clusters[0].endpoints.length ?? 0).join()));`,
        )) === '1,1',
      'productpage to learn the reviews and db endpoints',
    );
  });

  after(() => {
    for (const p of procs) p.kill('SIGKILL');
    removeHosts(hostA, hostB, hostC);
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
    const metrics = await metricsOf(hostB);
    assert.match(metrics, /istio_requests_total\{reporter="destination",[^}]*connection_security_policy="none"\} 1/);
    assert.match(metrics, /istio_requests_total\{reporter="destination",source_workload="productpage",[^}]*connection_security_policy="mutual_tls"\} 1/);
  });

  it('captures IPv6 as it does IPv4: the sidecars listen on both families', async () => {
    // reviews is registered by its IPv4 address, so this is a call outside the mesh's names: it
    // passes through from A's sidecar and is captured again, inbound, by B's.
    const out = await nodeOutput(hostA, `fetch('http://[fd00:254:8::2]:9080/v6').then((r) => r.text()).then(console.log, (e) => console.log('failed: ' + (e.cause?.code ?? e.message)));`);
    assert.equal((JSON.parse(out) as { app: string }).app, 'reviews', out);
    assert.match(await metricsOf(hostA), /istio_requests_total\{reporter="source",source_workload="productpage",[^}]*destination_service_name="PassthroughCluster",[^}]*response_code="200"/);
    assert.match(await metricsOf(hostB), /istio_requests_total\{reporter="destination",[^}]*connection_security_policy="none"\} 2/, "through B's inbound sidecar too");
  });

  it('routes HTTP dialled to an instance address, with no service name, by that address: over mTLS', async () => {
    const out = await nodeOutput(hostA, `fetch('http://10.254.8.2:9080/by-address').then((r) => r.text()).then(console.log, (e) => console.log('failed: ' + e.message));`);
    const seen = JSON.parse(out) as { caller: string | null };
    assert.equal(seen.caller, 'By=spiffe://cluster.local/ns/default/sa/reviews;URI=spiffe://cluster.local/ns/default/sa/productpage');
  });

  it("carries raw TCP dialled to a TCP service's instance over mTLS, and a server-first protocol works at once", async () => {
    const out = await nodeOutput(hostA, tcpDialogue('10.254.9.2', 5432, { text: 'ping\n', afterBanner: true }, 'pong'));
    assert.equal(out, 'db ready\npong to 127.0.0.1', 'the banner came, and the database saw its own sidecar as the peer');
    const server = await metricsOf(hostC);
    assert.match(
      server,
      /istio_tcp_connections_opened_total\{reporter="destination",source_workload="productpage",source_workload_namespace="default",source_principal="spiffe:\/\/cluster.local\/ns\/default\/sa\/productpage",[^}]*destination_service_name="db",[^}]*connection_security_policy="mutual_tls",response_flags="-"\} 1/,
    );
    const client = await metricsOf(hostA);
    assert.match(
      client,
      /istio_tcp_connections_opened_total\{reporter="source",source_workload="productpage",[^}]*destination_service_name="db",[^}]*connection_security_policy="unknown",response_flags="-"\} 1/,
    );
    assert.match(client, /istio_tcp_sent_bytes_total\{reporter="source",[^}]*destination_service_name="db",[^}]*\} 5\b/, 'ping\\n: 5 bytes towards the database');
  });

  it('passes TCP to an address outside the mesh through, client-first and server-first alike', async () => {
    assert.equal(await nodeOutput(hostA, tcpDialogue('10.254.8.2', 7000, { text: 'hello\n', afterBanner: false }, 'echo')), 'echo: hello');
    // The server speaks first: the sidecar waits for the client's bytes for the detection timeout (0.3 s here), then carries it as TCP.
    assert.equal(await nodeOutput(hostA, tcpDialogue('10.254.8.2', 7001, undefined, '220')), '220 outside ready');
    const client = await metricsOf(hostA);
    assert.match(
      client,
      /istio_tcp_connections_opened_total\{reporter="source",source_workload="productpage",[^}]*destination_service_name="PassthroughCluster",[^}]*connection_security_policy="unknown",response_flags="-"\} 2/,
    );
    assert.match(
      client,
      /istio_tcp_received_bytes_total\{reporter="source",[^}]*destination_service_name="PassthroughCluster",[^}]*\} 30\b/,
      'echo: hello\\n and 220 outside ready\\n came back through the sidecar',
    );
  });

  it('passes a half-close through both sidecars: a client that ends its side after asking still gets the answer', async () => {
    const out = await nodeOutput(hostA, tcpDialogue('10.254.9.2', 5432, { text: 'ping\n', afterBanner: true, thenEnd: true }, 'pong'));
    assert.equal(out, 'db ready\npong to 127.0.0.1');
    assert.equal(await nodeOutput(hostA, tcpDialogue('10.254.8.2', 7000, { text: 'hello\n', afterBanner: false, thenEnd: true }, 'echo')), 'echo: hello', 'and through a passthrough');
  });

  it("is no open proxy: another host reaching the capture port directly is refused, not carried with the workload's identity", async () => {
    // From host B, as the sidecar's own user so that B's capture leaves the connection alone.
    const out = await nodeOutput(hostB, tcpDialogue('10.254.8.1', 15001, { text: 'GET /open-proxy HTTP/1.1\r\nHost: reviews\r\n\r\n', afterBanner: false }, 'HTTP/1.1'), { uid: PROXY_UID });
    assert.match(out, /^(closed after ""|failed: ECONNRESET)$/, `refused, not answered: ${out}`);
    assert.equal(
      await nodeOutput(hostA, `fetch('http://reviews:9080/still').then((r) => console.log(r.status), (e) => console.log('failed: ' + e.message));`),
      '200',
      "the host's own applications are still carried",
    );
  });

  it('under REGISTRY_ONLY closes captured TCP to addresses outside the mesh (BlackHoleCluster), and still carries mesh TCP', async () => {
    // The productpage sidecar restarts with the policy; its certificate and snapshot are on disk.
    const old = sidecarProcs.get('productpage')!;
    const gone = new Promise((r) => old.once('exit', r));
    old.kill('SIGTERM');
    await gone;
    procs.push(spawnIn(hostA, proxyArgs('productpage', 9080, ['--outbound-traffic-policy', 'REGISTRY_ONLY']), PROXY_UID));
    await ready(hostA, 'the productpage sidecar under REGISTRY_ONLY');
    assert.equal(await nodeOutput(hostA, tcpDialogue('10.254.8.2', 7000, { text: 'hello\n', afterBanner: false }, 'echo')), 'closed after ""', 'closed without an answer');
    assert.equal(await nodeOutput(hostA, tcpDialogue('10.254.9.2', 5432, { text: 'ping\n', afterBanner: true }, 'pong')), 'db ready\npong to 127.0.0.1', 'mesh services are still reached');
    assert.match(
      await metricsOf(hostA),
      /istio_tcp_connections_opened_total\{reporter="source",source_workload="productpage",[^}]*destination_service_name="BlackHoleCluster",[^}]*response_flags="NR"\} 1/,
    );
  });
});

/**
 * A client script: connects, sends `send.text` (at once, or once the server's banner came; then
 * ends its side of the connection with `thenEnd`), and prints everything received up to the
 * line holding `until`, or what came before the server closed, or why it failed.
 */
function tcpDialogue(host: string, port: number, send: { text: string; afterBanner: boolean; thenEnd?: boolean } | undefined, until: string): string {
  return `import net from 'node:net';
const send = ${JSON.stringify(send ?? null)};
const s = net.connect({ host: ${JSON.stringify(host)}, port: ${port} });
let got = '';
let sent = false;
const say = () => { if (send && !sent) { sent = true; if (send.thenEnd) s.end(send.text); else s.write(send.text); } };
s.setTimeout(3000, () => { console.log('failed: timeout after ' + JSON.stringify(got)); process.exit(0); });
s.on('error', (e) => { console.log('failed: ' + e.code); process.exit(0); });
s.on('close', () => { console.log('closed after ' + JSON.stringify(got)); process.exit(0); });
s.on('data', (d) => {
  got += d;
  say();
  if (got.split('\\n').some((line) => line.includes(${JSON.stringify(until)}))) { console.log(got.trim()); s.destroy(); process.exit(0); }
});
if (send && !send.afterBanner) say();`;
}

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
