// VM mode for real: two network-namespace hosts joined by veth stand in for two VMs. Host A runs
// Consul and the controller; each host runs `mesh-agent vm` with a directory of service files.
// Host A declares two services run by different users (so their outbound traffic is told apart
// by UID and each has its own sidecar ports); host B declares one. Applications know nothing of
// the mesh and call each other by name. Host B runs a Consul client agent of its own, and its
// mesh-agent registers B's instances there (--consul-agent), as Consul means services to be.
import assert from 'node:assert/strict';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { readable, waitFor } from '../helpers/ports.js';
import { joinedHosts, netnsAvailable, nodeOutput, removeHosts, uniqueName } from '../helpers/netns.js';

const root = new URL('../../../', import.meta.url).pathname;
const consulMissing = spawnSync('consul', ['version']).status === 0 ? undefined : 'consul is not installed (scripts/install-test-deps.sh)';
const skip = netnsAvailable() ?? consulMissing;
const A = '10.254.9.1';
const B = '10.254.9.2';

interface Agent {
  proc: ChildProcess;
  log: () => string;
}

describe('VM mode: agents on two namespace hosts, services from files, Consul catalog', { skip, timeout: 120_000 }, () => {
  const hostA = uniqueName('vm-a');
  const hostB = uniqueName('vm-b');
  const work = mkdtempSync(join(tmpdir(), 'mesh-vm-'));
  const procs: ChildProcess[] = [];
  const agents: Record<string, Agent> = {};
  const ctlDir = join(work, 'controller');
  const ca = join(work, 'ca.pem');
  const conf = (host: string) => join(work, host, 'services.d');

  const bg = (ns: string, argv: string[], uid?: number): ChildProcess => {
    const user = uid !== undefined ? ['setpriv', `--reuid=${uid}`, `--regid=${uid}`, '--clear-groups'] : [];
    const p = spawn('ip', ['netns', 'exec', ns, ...user, ...argv], { stdio: ['ignore', 'pipe', 'pipe'] });
    procs.push(p);
    return p;
  };
  const startAgent = (name: string, ns: string, address: string) => {
    let out = '';
    // B's instances are registered with B's own Consul agent; A's go through the controller.
    const local = name === 'b' ? ['--consul-agent', '127.0.0.1:8500'] : [];
    const proc = bg(ns, [
      process.execPath,
      join(root, 'dist/agent/main.js'),
      'vm',
      '--config-dir',
      conf(name),
      '--address',
      address,
      '--state-dir',
      join(work, name, 'state'),
      '--instance-prefix',
      name,
      '--controller',
      `https://${A}:15012`,
      '--ca-file',
      ca,
      '--token',
      agentToken(name),
      '--exclude-outbound-ports',
      '8500,15012',
      '--resync',
      '2s',
      ...local,
    ]);
    proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    proc.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    agents[name] = { proc, log: () => out };
  };
  // Each VM's agent holds a host agent token, not the admin token.
  const agentTokens = new Map<string, string>();
  const agentToken = (name: string) => {
    if (!agentTokens.has(name)) {
      const r = spawnSync(
        'ip',
        ['netns', 'exec', hostA, process.execPath, join(root, 'dist/cli/main.js'), 'token', 'agent', '--host', `vm-${name}`, '--data-dir', ctlDir, '--controller', `https://${A}:15012`],
        { encoding: 'utf8' },
      );
      if (r.status !== 0) throw new Error(`meshctl token agent failed: ${r.stderr}`);
      agentTokens.set(name, r.stdout.trim());
    }
    return agentTokens.get(name)!;
  };
  const app = (ns: string, uid: number, args: string[]) => bg(ns, [process.execPath, join(root, 'examples/bookinfo/app.mjs'), '--listen=0.0.0.0', '--by-name', ...args], uid);
  const get = async (ns: string, url: string, uid?: number) => {
    const out = await nodeOutput(
      ns,
      `fetch(${JSON.stringify(url)}).then((r) => r.text()).then(console.log, (e) => console.log(JSON.stringify({ failed: e.message })));`,
      uid === undefined ? {} : { uid },
    );
    return JSON.parse(out) as {
      service?: string;
      caller?: string | null;
      deps?: Record<string, { caller?: string | null; status: number; deps?: Record<string, { status: number }> }>;
      failed?: string;
    };
  };
  /** Every instance in the catalog, whichever host's Consul agent holds it, as `id@node`. */
  const registrations = async () => {
    const out = await nodeOutput(
      hostA,
      `const base = 'http://${A}:8500/v1/catalog/';
      fetch(base + 'services').then((r) => r.json())
        .then((s) => Promise.all(Object.keys(s).filter((n) => n !== 'consul').map((n) => fetch(base + 'service/' + n).then((r) => r.json()))))
        .then((lists) => console.log(JSON.stringify(lists.flat().map((e) => e.ServiceID + '@' + e.Node).sort())));`,
    );
    return JSON.parse(out) as string[];
  };
  const catalog = async () => (await registrations()).map((r) => r.split('@')[0]);

  before(async () => {
    chmodSync(work, 0o755);
    joinedHosts({ name: hostA, ip: A }, { name: hostB, ip: B });
    bg(hostA, ['consul', 'agent', '-dev', `-bind=${A}`, `-client=${A}`, '-log-level=warn', `-data-dir=${join(work, 'consul')}`]);
    await waitFor('Consul', async () => (await nodeOutput(hostA, `fetch('http://${A}:8500/v1/status/leader').then((r) => r.json()).then(console.log, () => console.log(''))`)).includes(':'), 20_000);
    // Host B's own Consul agent (a client), joined to A's: the agent every Consul host runs.
    bg(hostB, ['consul', 'agent', `-bind=${B}`, '-client=127.0.0.1', `-retry-join=${A}`, '-node=vm-b-consul', '-log-level=warn', `-data-dir=${join(work, 'consul-b')}`]);
    await waitFor(
      "B's Consul agent to join",
      async () => (await nodeOutput(hostB, `fetch('http://127.0.0.1:8500/v1/status/leader').then((r) => r.json()).then(console.log, () => console.log(''))`)).includes(':'),
      20_000,
    );
    bg(hostA, [process.execPath, join(root, 'dist/controller/main.js'), '--data-dir', ctlDir, '--listen', '0.0.0.0:15012', '--api-name', A, '--consul', `${A}:8500`, '--log-level', 'warn']);
    await waitFor('the controller', async () => readable(join(ctlDir, 'admin-token')) && readable(join(ctlDir, 'ca.pem')), 20_000);
    copyFileSync(join(ctlDir, 'ca.pem'), ca);
    chmodSync(ca, 0o644);

    // Name resolution, as /etc/hosts or DNS would give it on a VM.
    for (const [ns, lines] of [
      [hostA, `127.0.0.1 localhost\n${B} reviews\n`],
      [hostB, `127.0.0.1 localhost\n${A} details\n`],
    ] as const) {
      mkdirSync(`/etc/netns/${ns}`, { recursive: true });
      writeFileSync(`/etc/netns/${ns}/hosts`, lines);
    }
    // Applications: productpage (uid 2001) and details (uid 2002) on A; reviews on B calls details.
    app(hostA, 2001, ['--name=productpage', '--version=v1', '--port=9080', '--calls=reviews:9080']);
    app(hostA, 2002, ['--name=details', '--version=v1', '--port=9081']);
    app(hostB, 2003, ['--name=reviews', '--version=v2', '--port=9080', '--calls=details:9081']);

    mkdirSync(conf('a'), { recursive: true });
    mkdirSync(conf('b'), { recursive: true });
    writeFileSync(join(conf('a'), 'productpage.yaml'), 'name: productpage\nport: 9080\nversion: v1\nuser: 2001\n');
    writeFileSync(
      join(conf('a'), 'details.yaml'),
      'name: details\nport: 9081\nversion: v1\nuser: 2002\nsidecar:\n  inboundPort: 15106\n  outboundPort: 15101\n  adminPort: 15100\n  statusPort: 15120\n',
    );
    writeFileSync(join(conf('b'), 'reviews.yaml'), 'name: reviews\nport: 9080\nversion: v2\n');
    startAgent('a', hostA, A);
    startAgent('b', hostB, B);
    await waitFor('three instances in Consul', async () => (await catalog()).length === 3, 40_000).catch((err: Error) => {
      throw new Error(`${err.message}\nagent a:\n${agents.a.log().slice(-3000)}\nagent b:\n${agents.b.log().slice(-3000)}`);
    });
    // Consul marks new instances healthy after their first check; until then they are not routed to.
    // 45 s: once (of many runs) 20 s were not enough with the whole suite loading the machine.
    let last: unknown;
    await waitFor(
      'productpage -> reviews -> details through the mesh',
      async () => {
        last = await get(hostA, `http://127.0.0.1:9080/`);
        return (last as Awaited<ReturnType<typeof get>>).deps?.reviews?.deps?.details?.status === 200;
      },
      45_000,
    ).catch((err: Error) => {
      throw new Error(`${err.message}\nlast answer: ${JSON.stringify(last)}\nagent a:\n${agents.a.log().slice(-3000)}\nagent b:\n${agents.b.log().slice(-3000)}`);
    });
  });

  after(() => {
    for (const p of procs) p.kill('SIGKILL');
    // Sidecars are detached from their agent (they outlive its restarts): end them by their state dir.
    spawnSync('pkill', ['-KILL', '-f', work]);
    removeHosts(hostA, hostB);
    for (const ns of [hostA, hostB]) rmSync(`/etc/netns/${ns}`, { recursive: true, force: true });
    rmSync(work, { recursive: true, force: true });
  });

  it('carries a cross-host call by name through both sidecars over mTLS', async () => {
    const page = await get(hostA, 'http://127.0.0.1:9080/');
    assert.equal(page.deps?.reviews.caller, 'By=spiffe://cluster.local/ns/default/sa/reviews;URI=spiffe://cluster.local/ns/default/sa/productpage');
    assert.deepEqual(await catalog(), ['details-a', 'productpage-a', 'reviews-b']);
  });

  it("holds B's instance in B's own Consul agent, so that it outlives any controller's host", async () => {
    const held = await registrations();
    assert.ok(held.includes('reviews-b@vm-b-consul'), held.join(', '));
    assert.ok(!held.some((r) => r.startsWith('productpage-a@vm-b-consul')), "A's go through the controller, to A's agent");
  });

  it("sends each app's outbound traffic to its own sidecar on a host with two services", async () => {
    // As details' user (uid 2002), a call leaves through details' sidecar with details' identity.
    const asDetails = await get(hostA, 'http://reviews:9080/', 2002);
    assert.equal(asDetails.caller, 'By=spiffe://cluster.local/ns/default/sa/reviews;URI=spiffe://cluster.local/ns/default/sa/details');
    // And reviews on B reaches details on A at details' own sidecar ports.
    assert.equal(asDetails.deps?.details.caller, 'By=spiffe://cluster.local/ns/default/sa/details;URI=spiffe://cluster.local/ns/default/sa/reviews', JSON.stringify(asDetails));
  });

  it('reports a service file with errors, naming the file and fields, and keeps the others', async () => {
    writeFileSync(join(conf('b'), 'broken.yaml'), 'name: Ratings\nport: 99999\nprotocol: soap\n');
    await waitFor('the agent to report the file', async () => agents.b.log().includes('broken.yaml'), 10_000);
    const log = agents.b.log();
    assert.match(log, /name: \\"Ratings\\" is not a valid service name/);
    assert.match(log, /port: must be at most 65535, got 99999/);
    assert.match(log, /protocol: \\"soap\\" is not one of http, http2, grpc, tcp/);
    assert.equal((await get(hostA, 'http://127.0.0.1:9080/')).deps?.reviews.status, 200);
    unlinkSync(join(conf('b'), 'broken.yaml'));
  });

  it('adopts its running sidecars when the agent restarts', async () => {
    const pidsBefore = readFileSync(join(work, 'a', 'state', 'productpage-a', 'sidecar.json'), 'utf8');
    agents.a.proc.kill('SIGTERM');
    await new Promise((r) => agents.a.proc.once('exit', r));
    startAgent('a', hostA, A);
    await waitFor('the agent to adopt', async () => (agents.a.log().match(/adopted running sidecar/g) ?? []).length === 2, 20_000);
    assert.equal(readFileSync(join(work, 'a', 'state', 'productpage-a', 'sidecar.json'), 'utf8'), pidsBefore, 'the same sidecar process');
    assert.equal((await get(hostA, 'http://127.0.0.1:9080/')).deps?.reviews.status, 200);
  });

  it('registers its instances again when the catalog lost them (a restarted Consul dev agent)', async () => {
    // Deregistered and listed in one script: the agent's resync (every 2 s) must not slip in between.
    const listed = await nodeOutput(
      hostA,
      `fetch('http://${A}:8500/v1/agent/service/deregister/productpage-a', { method: 'PUT' }).then(() => fetch('http://${A}:8500/v1/agent/services')).then((r) => r.json()).then((s) => console.log(JSON.stringify(Object.keys(s))));`,
    );
    assert.ok(!(JSON.parse(listed) as string[]).includes('productpage-a'), listed);
    await waitFor('the agent to register productpage again at its resync', async () => (await catalog()).includes('productpage-a'), 10_000);
  });

  it('removes the instance, its sidecar and its capture when the service file goes', async () => {
    unlinkSync(join(conf('b'), 'reviews.yaml'));
    await waitFor('reviews to leave Consul', async () => !(await catalog()).includes('reviews-b'), 15_000);
    // Deregistered first (no new callers), then the sidecar and its capture go.
    const rules = () => spawnSync('ip', ['netns', 'exec', hostB, 'iptables-save', '-t', 'nat'], { encoding: 'utf8' }).stdout;
    await waitFor('the capture rules on B to go', async () => !/MESH_/.test(rules()), 5_000);
    assert.doesNotMatch(rules(), /MESH_/);
    // With no sidecar and no capture, the app on B answers directly again (plaintext).
    const direct = await get(hostA, `http://${B}:9080/`, 1337);
    assert.equal(direct.service, 'reviews');
    assert.equal(direct.caller, null);
  });
});
