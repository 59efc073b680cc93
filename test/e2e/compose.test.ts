// End to end on a real Docker engine: `compose up` of compose/docker-compose.yml brings up
// Consul, the controller, the agent, an ingress gateway and the Bookinfo-style demo whose
// containers carry mesh labels only; Istio's bookinfo-gateway.yaml (examples/bookinfo) lets the
// front page in. Then what a user would check: calls are captured and carried over mTLS, a route
// change shows in the traffic, a stopped container leaves the catalog within 2 s, an agent
// restart changes nothing, and bad labels or a taken port are reported without harm to others.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { freePort, waitFor } from '../helpers/ports.js';
import { buildBaseImages, composeCommand, ensureDocker, run } from '../helpers/docker.js';

const dockerProblem = process.getuid?.() !== 0 ? 'needs root' : await ensureDocker();
const compose = composeCommand();
const skip = dockerProblem ?? (compose ? undefined : 'neither docker compose nor docker-compose is installed');

interface Page {
  service: string;
  version: string;
  caller: string | null;
  deps: Record<string, Page & { status: number }>;
}

describe('compose demo on a real Docker engine', { skip, timeout: 600_000 }, () => {
  const project = `meshe2e${randomBytes(3).toString('hex')}`;
  let port = 0;
  let promPort = 0;
  const env = () => ({ GATEWAY_PORT: String(port), PROMETHEUS_PORT: String(promPort), COMPOSE_PROJECT_NAME: project });
  // With the optional monitoring profile: its Prometheus finds the sidecars through the catalog.
  const dc = (...args: string[]) => run([...compose!, '-p', project, '-f', 'compose/docker-compose.yml', '--profile', 'monitoring', ...args], { env: env() });
  const id = async (service: string) => (await dc('ps', '-q', service)).trim();
  const page = async (headers: Record<string, string> = {}): Promise<Page> => {
    const res = await fetch(`http://127.0.0.1:${port}/productpage`, { headers, signal: AbortSignal.timeout(5000) });
    assert.equal(res.status, 200, await res.clone().text());
    return (await res.json()) as Page;
  };
  const meshctl = async (...args: string[]) => run(['docker', 'exec', await id('controller'), 'meshctl', ...args]);
  const instances = async (): Promise<{ id: string; service: string; labels: Record<string, string> }[]> => {
    const s = JSON.parse(await meshctl('services', '-o', 'json')) as { services: { instances: { id: string; service: string; labels: Record<string, string> }[] }[] };
    return s.services.flatMap((x) => x.instances);
  };
  const agentLogs = async () => run(['docker', 'logs', await id('agent')]);
  const sidecars = async () => (await run(['docker', 'ps', '-q', '--no-trunc', '--filter', 'label=mesh.managed-by=mesh-agent'])).split('\n').filter(Boolean).sort();
  const extra: string[] = [];
  // Registered and answering. An answer alone is not enough: while details has no instance in
  // the catalog, its name is no mesh service, and ALLOW_ANY passes the call straight to the app.
  const detailsThroughTheMesh = async () => (await instances()).some((i) => i.service === 'details') && (await page()).deps.details.status === 200;

  before(async () => {
    port = await freePort();
    promPort = await freePort();
    buildBaseImages();
    await dc('build', '-q');
    await dc('up', '-d');
    // Every app has joined once its reviews, details and ratings answer through the mesh. The
    // gateway is not registered: it has no application.
    await waitFor('all six workloads to join', async () => (await instances()).length === 6, 90_000);
    // The way in, as the compose file's header says: Istio's bookinfo-gateway.yaml.
    await meshctl('apply', '-f', '/opt/hostmesh/examples/bookinfo/bookinfo-gateway.yaml');
    await waitFor(
      'the front page to answer through the mesh',
      async () => {
        const p = await page();
        return p.deps.details?.status === 200 && p.deps.reviews?.status === 200;
      },
      30_000,
    );
  });

  after(async () => {
    if (skip) return;
    const mine = (await dc('ps', '-q', '-a').catch(() => '')).split('\n').filter(Boolean);
    for (const c of extra) await run(['docker', 'rm', '-f', c], { allowFailure: true });
    await dc('down', '-v', '--remove-orphans').catch(() => undefined);
    // Sidecars of this project's containers (the agent went down with the project).
    const all = (await run(['docker', 'ps', '-aq', '--no-trunc', '--filter', 'label=mesh.managed-by=mesh-agent'], { allowFailure: true })).split('\n').filter(Boolean);
    for (const s of all) {
      const forApp = (await run(['docker', 'inspect', '-f', '{{index .Config.Labels "mesh.sidecar-for"}}', s], { allowFailure: true })).trim();
      if (mine.some((m) => forApp.startsWith(m)) || extra.some((e) => forApp.startsWith(e))) await run(['docker', 'rm', '-f', s], { allowFailure: true });
    }
  });

  it('carries calls between unmodified apps through both sidecars over mTLS', async () => {
    const p = await page();
    assert.equal(p.service, 'productpage');
    assert.equal(
      p.caller,
      'By=spiffe://cluster.local/ns/default/sa/productpage;URI=spiffe://cluster.local/ns/istio-system/sa/istio-ingressgateway',
      'the browser came in through the ingress gateway, over mTLS',
    );
    assert.equal(p.deps.details.caller, 'By=spiffe://cluster.local/ns/default/sa/details;URI=spiffe://cluster.local/ns/default/sa/productpage');
    assert.match(p.deps.reviews.caller ?? '', /URI=spiffe:\/\/cluster\.local\/ns\/default\/sa\/productpage$/);
    const shared = (await run(['docker', 'exec', await id('agent'), 'ls', '/var/lib/mesh-share'])).split('\n').filter(Boolean).sort();
    assert.deepEqual(shared, ['agent-token', 'ca.pem'], 'the agent holds a host agent token, never the admin token');
    const pid = (await run(['docker', 'inspect', '-f', '{{.State.Pid}}', await id('details')])).trim();
    const rules = await run(['nsenter', `--net=/proc/${pid}/ns/net`, 'iptables-save', '-t', 'nat']);
    assert.match(rules, /-A MESH_INBOUND -p tcp -m tcp --dport 9080 -j REDIRECT --to-ports 15006/);
    assert.match(rules, /-A MESH_OUTPUT -m owner --uid-owner 1337 -j RETURN/);
  });

  it("monitoring profile: Prometheus finds every sidecar through the catalog, and Istio's queries answer", async () => {
    const query = async (expr: string) => {
      const res = await fetch(`http://127.0.0.1:${promPort}/api/v1/query?query=${encodeURIComponent(expr)}`, { signal: AbortSignal.timeout(5000) });
      return ((await res.json()) as { data: { result: { metric: Record<string, string>; value: [number, string] }[] } }).data.result;
    };
    for (let i = 0; i < 20; i++) await page();
    await waitFor('the six sidecars and the controller scraped', async () => (await query('up == 1').catch(() => [])).length === 7, 90_000, 1000);
    const sidecars = await query('up{job="mesh-sidecars"}');
    assert.deepEqual([...new Set(sidecars.map((r) => r.metric.service))].sort(), ['details', 'productpage', 'ratings', 'reviews']);
    assert.deepEqual(
      sidecars
        .filter((r) => r.metric.service === 'reviews')
        .map((r) => r.metric.version)
        .sort(),
      ['v1', 'v2', 'v3'],
    );
    // Istio's service dashboard, "Incoming Requests By Source And Response Code".
    await waitFor(
      'requests to reviews in Prometheus',
      async () => (await query('sum(istio_requests_total{reporter="destination",destination_service_name="reviews",source_workload="productpage-v1"}) by (response_code)')).length > 0,
      30_000,
      1000,
    );
  });

  it("passes a meshed app's non-HTTP connection to a container outside the mesh through, by where it was dialled", async () => {
    // TLS-looking bytes from productpage to Consul's HTTP port: captured, not HTTP, and Consul is no
    // mesh service, so the sidecar (reading SO_ORIGINAL_DST inside the image) pipes them there.
    const script = `const s = require('net').connect(8500, 'consul'); let got = '';
s.on('data', (d) => (got += d)); s.on('close', () => { console.log(JSON.stringify(got)); process.exit(0); });
s.on('error', (e) => { console.log('failed: ' + e.code); process.exit(0); });
setTimeout(() => { console.log('failed: timeout'); process.exit(0); }, 5000);
s.write(Buffer.from([0x16, 0x03, 0x01, 0x00, 0x05, 0x68, 0x65, 0x6c, 0x6c, 0x6f, 0x0d, 0x0a, 0x0d, 0x0a]));`;
    const answer = (await run(['docker', 'exec', await id('productpage'), 'node', '-e', script])).trim();
    // Consul (Go) says 400 with a body; the sidecar's own HTTP parser would have said 400 with none.
    assert.match(answer, /^"HTTP\/1\.1 400 Bad Request\\r\\n.*\\r\\n\\r\\n400 Bad Request"$/, `Consul's own answer to bytes it cannot read: ${answer}`);
    const metrics = await run(['docker', 'exec', await id('productpage'), 'node', '-e', "fetch('http://127.0.0.1:15000/stats/prometheus').then((r) => r.text()).then(console.log)"]);
    assert.match(metrics, /istio_tcp_connections_opened_total\{reporter="source",source_workload="productpage-v1",[^}]*destination_service_name="PassthroughCluster",[^}]*response_flags="-"\} [1-9]/);
  });

  it('applies a 90/10 VirtualService to the traffic, and the header match', async () => {
    const out = await meshctl('apply', '-f', '/opt/hostmesh/examples/bookinfo');
    assert.match(out, /virtualservice\/reviews \(default\) created/);
    await waitFor('the route to take effect', async () => (await page()).deps.reviews.version !== 'v2' && (await page({ 'end-user': 'jason' })).deps.reviews.version === 'v2', 10_000);
    const counts: Record<string, number> = {};
    for (let i = 0; i < 200; i++) {
      const v = (await page()).deps.reviews.version;
      counts[v] = (counts[v] ?? 0) + 1;
    }
    assert.equal(counts.v2 ?? 0, 0, `v2 only for jason: ${JSON.stringify(counts)}`);
    assert.ok(counts.v1 >= 160 && counts.v1 <= 195, `about 90% to v1: ${JSON.stringify(counts)}`);
    assert.ok(counts.v3 >= 5, `about 10% to v3: ${JSON.stringify(counts)}`);
    assert.equal((await page({ 'end-user': 'jason' })).deps.reviews.version, 'v2');
  });

  it('leaves no PERMISSIVE workload: under STRICT the front page answers only through the gateway', async () => {
    // examples/bookinfo (applied above) makes every workload STRICT; its compose service publishes no port.
    assert.equal((await page()).deps.details.status, 200);
    const direct = await run(
      [
        'docker',
        'run',
        '--rm',
        '--network',
        `${project}_default`,
        'hostmesh/mesh:latest',
        'node',
        '-e',
        "fetch('http://productpage:9080/productpage', { signal: AbortSignal.timeout(5000) }).then((r) => console.log('status', r.status), (e) => console.log('refused', e.cause?.code ?? e.name))",
      ],
      { allowFailure: true },
    );
    assert.match(direct, /^refused /m, `plaintext from outside the mesh straight to productpage: ${direct}`);
  });

  it('deregisters a stopped container within 2 s and removes its sidecar', async () => {
    const ratings = await id('ratings');
    const instance = (await instances()).find((i) => i.service === 'ratings')!.id;
    try {
      await run(['docker', 'stop', '-t', '0', ratings]);
      // From the moment the container is gone (docker stop has returned): the agent's part.
      const stopped = Date.now();
      await waitFor('ratings to leave the catalog', async () => !(await instances()).some((i) => i.id === instance), 5000);
      const took = Date.now() - stopped;
      assert.ok(took <= 2000, `deregistered ${took} ms after the container stopped`);
      await waitFor('its sidecar to be removed', async () => !(await run(['docker', 'ps', '-aq', '--filter', `label=mesh.instance-id=${instance}`])).trim(), 5000);
    } finally {
      // Whatever happened above, the next tests need ratings back.
      await run(['docker', 'start', ratings]);
      await waitFor('ratings to rejoin', async () => (await instances()).some((i) => i.service === 'ratings'), 30_000);
    }
  });

  it('changes nothing when the agent restarts: same sidecars, rules and registrations', async () => {
    const before = { sidecars: await sidecars(), instances: (await instances()).map((i) => i.id).sort() };
    const pid = (await run(['docker', 'inspect', '-f', '{{.State.Pid}}', await id('details')])).trim();
    const rulesBefore = await run(['nsenter', `--net=/proc/${pid}/ns/net`, 'iptables-save', '-t', 'nat']);
    await run(['docker', 'restart', await id('agent')]);
    await waitFor('the agent to adopt its sidecars', async () => ((await agentLogs()).match(/adopted running sidecar/g) ?? []).length >= 6, 30_000);
    assert.deepEqual(await sidecars(), before.sidecars);
    assert.deepEqual((await instances()).map((i) => i.id).sort(), before.instances);
    const strip = (s: string) => s.replace(/^#.*$/gm, '').replace(/\[\d+:\d+\]/g, '');
    assert.equal(strip(await run(['nsenter', `--net=/proc/${pid}/ns/net`, 'iptables-save', '-t', 'nat'])), strip(rulesBefore));
    assert.equal((await page()).deps.details.status, 200);
  });

  it('rides out a Docker engine that goes away and comes back, then catches up', async () => {
    // The agent talks to the engine through a relay the test can cut; it replaces the compose one.
    const relay = new EngineRelay();
    await relay.open();
    await run(['docker', 'stop', await id('agent')]);
    const agent = (
      await run([
        'docker',
        'run',
        '-d',
        '--name',
        `${project}-agent-relayed`,
        '--network',
        `${project}_default`,
        '--pid',
        'host',
        '--cap-add',
        'NET_ADMIN',
        '--cap-add',
        'SYS_ADMIN',
        '--cap-add',
        'SYS_PTRACE',
        '-v',
        `${relay.dir}:/run/engine`,
        '-v',
        `${project}_mesh-share:/var/lib/mesh-share:ro`,
        'hostmesh/mesh:latest',
        'mesh-agent',
        'docker',
        '--docker-socket',
        '/run/engine/docker.sock',
        '--data-dir',
        '/var/lib/mesh-share',
        '--controller',
        'https://controller:15012',
        '--resync',
        '2s',
      ])
    ).trim();
    extra.push(agent);
    const logs = () => run(['docker', 'logs', agent]);
    try {
      await waitFor('the relayed agent to adopt the sidecars', async () => ((await logs()).match(/adopted running sidecar/g) ?? []).length >= 6, 30_000);
      await relay.cut();
      await waitFor('the agent to notice the engine is gone', async () => /lost the Docker engine|cannot reach the Docker engine/.test(await logs()), 10_000);
      // The data plane does not need the agent: traffic flows while it is blind. Then an app stops.
      assert.equal((await page()).deps.reviews.status, 200, 'the mesh keeps working while the agent cannot see the engine');
      const details = await id('details');
      const instance = (await instances()).find((i) => i.service === 'details')!.id;
      await run(['docker', 'stop', '-t', '0', details]);
      await relay.open();
      await waitFor('the agent to reconnect', async () => /the Docker engine answers again/.test(await logs()), 15_000);
      await waitFor(
        'the stopped app to be deregistered and its sidecar removed',
        async () => !(await instances()).some((i) => i.id === instance) && !(await run(['docker', 'ps', '-aq', '--filter', `label=mesh.instance-id=${instance}`])).trim(),
        15_000,
      );
      await run(['docker', 'start', details]);
      await waitFor('details to rejoin', detailsThroughTheMesh, 30_000);
    } finally {
      await run(['docker', 'rm', '-f', agent], { allowFailure: true });
      await relay.close();
      await run(['docker', 'start', await id('agent')]);
    }
  });

  it('reports a malformed label and a taken sidecar port clearly, and leaves the others alone', async () => {
    await waitFor('details to be routable through the mesh', detailsThroughTheMesh, 30_000);
    const network = `${project}_default`;
    const bad = `${project}-bad-labels`;
    const taken = `${project}-port-taken`;
    extra.push(bad, taken);
    await run(['docker', 'run', '-d', '--name', bad, '--network', network, '--label', 'mesh.service=Bad_Name', '--label', 'mesh.port=abc', 'hostmesh/bookinfo:latest', '--name=bad', '--port=9080']);
    // This app listens on 15001 itself: its sidecar cannot bind the outbound capture port.
    await run([
      'docker',
      'run',
      '-d',
      '--name',
      taken,
      '--network',
      network,
      '--label',
      'mesh.service=squatter',
      '--label',
      'mesh.port=9080',
      'hostmesh/bookinfo:latest',
      '--name=squatter',
      '--port=15001',
    ]);
    await waitFor(
      'the agent to report both',
      async () => {
        const logs = await agentLogs();
        return logs.includes(`container ${bad}`) && /squatter[^\n]*did not become ready[^\n]*EADDRINUSE/.test(logs);
      },
      40_000,
    );
    const logs = await agentLogs();
    assert.match(logs, /mesh\.service: \\"Bad_Name\\" is not a valid service name/);
    assert.match(logs, /mesh\.port: \\"abc\\" is not a port/);
    assert.ok(!(await instances()).some((i) => i.service === 'squatter'), 'an instance whose sidecar failed is not registered');
    const p = await page();
    assert.equal(p.deps.details.status, 200, 'the other workloads are unaffected');
  });
});

/**
 * A Unix-socket relay in front of the real Docker socket: closing it makes the engine vanish for
 * whoever talks through it (connections cut, socket gone), opening it brings the engine back.
 */
class EngineRelay {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  readonly dir = mkdtempSync(join(tmpdir(), 'mesh-relay-'));
  readonly path = join(this.dir, 'docker.sock');

  async open(): Promise<void> {
    this.server = createServer((client) => {
      const engine = connect('/var/run/docker.sock');
      for (const s of [client, engine]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => undefined);
      }
      client.pipe(engine).pipe(client);
    });
    await new Promise<void>((r) => this.server!.listen(this.path, r));
    chmodSync(this.path, 0o666);
  }

  async cut(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    for (const sock of this.sockets) sock.destroy();
    await new Promise<void>((r) => (s ? s.close(() => r()) : r()));
    rmSync(this.path, { force: true });
  }

  async close(): Promise<void> {
    await this.cut();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
