// docs/vm-quickstart.md, run as written: two containers with systemd as PID 1 (no --privileged)
// stand in for two VMs, and every ```sh vm1 / ```sh vm2 block of the page runs in its VM, command
// by command, in order. The test adds no step of its own: it fills in the two values the page says
// to copy from vm1 to vm2, and it reads state (outputs, the catalog) to check what the page says.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { buildImages, ensureDocker, run } from '../helpers/docker.js';
import { docCommands, type DocCommand } from '../helpers/doc-commands.js';

const root = new URL('../../../', import.meta.url).pathname;
const skip = process.getuid?.() !== 0 ? 'systemd in containers needs root' : await ensureDocker();

const tag = randomBytes(3).toString('hex');
const network = `meshvm-${tag}`;
const container = (vm: string) => `${vm}-${tag}`;
const commands = docCommands(readFileSync(`${root}docs/vm-quickstart.md`, 'utf8'));

/** What the page tells the reader to copy from vm1 to vm2, and where in vm1's output it is. */
const copied: Record<string, { from: RegExp; pick: (out: string) => string | undefined }> = {
  '<the SHA-256 fingerprint printed by meshctl ca roots on vm1>': { from: /^meshctl ca roots$/, pick: (out) => /\b[0-9A-F]{2}(?::[0-9A-F]{2}){31}\b/.exec(out)?.[0] },
  '<the token printed by meshctl token agent --host vm2 on vm1>': { from: /^meshctl token agent --host vm2$/, pick: (out) => out.trim().split('\n').pop()?.trim() },
};

async function exec(vm: string, command: string, allowFailure = false): Promise<{ out: string; ok: boolean }> {
  try {
    const out = await run(['timeout', '180', 'docker', 'exec', '-w', '/root', container(vm), 'bash', '-euo', 'pipefail', '-c', command], { allowFailure });
    return { out, ok: true };
  } catch (err) {
    return { out: (err as Error).message, ok: false };
  }
}

describe('VM quick start (docs/vm-quickstart.md) under a real systemd in two containers', { skip }, () => {
  const outputs: { c: DocCommand; out: string }[] = [];
  /** A failed command leaves the VMs where later steps cannot be checked: they fail at once, naming it. */
  let broken: string | undefined;
  const values = new Map<string, string>();

  before(async () => {
    await buildImages();
    await run(['docker', 'build', '-q', '-t', 'hostmesh/vm:latest', '-f', 'test/e2e/vm/Dockerfile', '.']);
    await run(['docker', 'network', 'create', network]);
    for (const vm of ['vm1', 'vm2']) {
      // What the page asks for: two hosts that reach each other by name, systemd as PID 1.
      await run([
        'docker',
        'run',
        '-d',
        '--name',
        container(vm),
        '--hostname',
        vm,
        '--network',
        network,
        '--network-alias',
        vm,
        '--tmpfs',
        '/run',
        '--tmpfs',
        '/run/lock',
        '-v',
        '/sys/fs/cgroup:/sys/fs/cgroup:ro',
        '--cap-add',
        'SYS_ADMIN',
        '--cap-add',
        'NET_ADMIN',
        'hostmesh/vm:latest',
      ]);
    }
    for (const vm of ['vm1', 'vm2']) {
      const r = await exec(vm, 'timeout 60 sh -c "until systemctl is-system-running --wait >/dev/null 2>&1 || systemctl is-system-running | grep -q degraded; do sleep 1; done"');
      assert.ok(r.ok, `${vm}: systemd did not come up: ${r.out}`);
    }
  });

  after(async () => {
    if (process.env.MESH_E2E_KEEP) return;
    for (const vm of ['vm1', 'vm2']) await run(['docker', 'rm', '-f', container(vm)], { allowFailure: true });
    await run(['docker', 'network', 'rm', network], { allowFailure: true });
  });

  /** Runs the page's commands up to and including the first one matching `until`; returns their outputs. */
  async function follow(until: RegExp): Promise<{ c: DocCommand; out: string }[]> {
    const done: { c: DocCommand; out: string }[] = [];
    assert.equal(broken, undefined, `an earlier command failed: ${broken}`);
    while (outputs.length < commands.length) {
      const c = commands[outputs.length];
      let text = c.text;
      for (const [placeholder, value] of values) text = text.replaceAll(placeholder, value);
      assert.doesNotMatch(text, /<[a-z][^>\n]* on vm1>/, `a value to copy from vm1 was not found before: ${text}`);
      const r = await exec(c.vm, text);
      if (!r.ok) broken = `${c.vm}$ ${text}`;
      assert.ok(r.ok, `${c.vm}$ ${text}\nfailed:\n${r.out}`);
      const step = { c, out: r.out };
      outputs.push(step);
      done.push(step);
      for (const [placeholder, { from, pick }] of Object.entries(copied)) {
        if (!from.test(c.text)) continue;
        const value = pick(r.out);
        assert.ok(value, `${placeholder}: not found in the output of "${c.text}":\n${r.out}`);
        values.set(placeholder, value);
      }
      if (until.test(c.text)) return done;
    }
    assert.fail(`the page has no command matching ${until}`);
  }

  const backendListed = async () => /^default +backend +\d/m.test((await exec('vm1', 'meshctl services')).out);

  it('installs the controller on vm1, reachable from other VMs, with meshctl on PATH', async () => {
    const steps = await follow(/^meshctl status$/);
    assert.match(steps.at(-1)!.out, /healthy|ok/i);
  });

  it('prints the root fingerprint and a token for vm2', async () => {
    await follow(/^meshctl token agent --host vm2$/);
    assert.equal(values.size, 2);
  });

  it('meshes the backend on vm1: its sidecar unit runs and the instance is registered', async () => {
    const steps = await follow(/^meshctl services$/);
    assert.match(steps.at(-1)!.out, /^default +backend +\d+\.\d+\.\d+\.\d+:8080 /m);
    assert.equal((await exec('vm1', 'systemctl is-active mesh-proxy@backend-vm1')).out.trim(), 'active');
  });

  it('meshes the frontend on vm2 with the CA pinned by fingerprint', async () => {
    await follow(/until systemctl is-active --quiet mesh-proxy@frontend-vm2/);
    const log = (await exec('vm2', 'journalctl -u mesh-agent --no-pager -o cat')).out;
    assert.match(log, /CA bundle fetched and checked against the pinned root/);
  });

  it('resolves the service name for the app with no /etc/hosts line, and the call crosses both sidecars over mTLS', async () => {
    const steps = await follow(/^curl -s http:\/\/localhost:9090\/$/);
    const vm1Address = (await exec('vm1', "hostname -I | awk '{print $1}'")).out.trim();
    assert.match(steps[0].out, new RegExp(`^${vm1Address.replace(/\./g, '\\.')}\\s+backend$`, 'm'));
    assert.doesNotMatch((await exec('vm2', 'cat /etc/hosts')).out, /backend/);
    assert.match(steps[1].out, /^hello from backend; caller: By=spiffe:\/\/cluster\.local\/ns\/default\/sa\/backend;URI=spiffe:\/\/cluster\.local\/ns\/default\/sa\/frontend$/m);
  });

  it('under STRICT, refuses a caller outside the mesh and lets the frontend through', async () => {
    const steps = await follow(/^curl -s http:\/\/localhost:9090\/$/);
    const refused = steps.find((s) => s.c.text.includes('http://vm1:8080/'))!;
    assert.doesNotMatch(refused.out, /hello from backend/);
    assert.match(refused.out, /refused/);
    assert.match(steps.at(-1)!.out, /^hello from backend; caller: .*URI=spiffe:\/\/cluster\.local\/ns\/default\/sa\/frontend/m);
  });

  it('systemctl stop deregisters the sidecar within 2 s, and the agent leaves it stopped across its own restart', async () => {
    assert.ok(await backendListed());
    // Watched while the stop runs: `systemctl stop` itself returns only once requests in flight
    // have drained and the unit's ExecStopPost ran; the instance leaves the catalog before that.
    const stopping = Date.now();
    const stop = follow(/^systemctl stop mesh-proxy@backend-vm1$/);
    let gone = false;
    while (!gone && Date.now() - stopping < 10_000) gone = !(await backendListed());
    const took = Date.now() - stopping;
    await stop;
    assert.ok(gone && took <= 2_000, `backend was still listed ${took} ms after systemctl stop began`);
    const steps = await follow(/^meshctl services$/);
    assert.doesNotMatch(steps.at(-1)!.out, /^default +backend /m);
    const held = await follow(/^systemctl is-active mesh-proxy@backend-vm1/);
    assert.equal(held.at(-1)!.out.trim(), 'inactive', 'the restarted agent must not start a unit a person stopped');
    const afterRestart = await follow(/^meshctl services$/);
    assert.doesNotMatch(afterRestart.at(-1)!.out, /^default +backend /m);
  });

  it('systemctl start brings it back and the agent registers it', async () => {
    await follow(/until meshctl services \| grep -q "\^default \*backend \*\[0-9\]"/);
    assert.ok(await backendListed());
  });

  it('an agent restart changes nothing: the same sidecar process, the call still crosses', async () => {
    const steps = await follow(/^curl -s http:\/\/localhost:9090\/$/);
    const pids = steps.filter((s) => s.c.text.startsWith('systemctl show -p MainPID')).map((s) => s.out.trim());
    assert.equal(pids.length, 2);
    assert.ok(Number(pids[0]) > 0);
    assert.equal(pids[1], pids[0]);
    assert.match(steps.at(-1)!.out, /^hello from backend; caller: .*URI=spiffe:\/\/cluster\.local\/ns\/default\/sa\/frontend/m);
  });

  it('runs an ingress gateway on vm1 from a service file: a caller outside the mesh reaches backend through it, over mTLS', async () => {
    const steps = await follow(/^curl -s http:\/\/vm1\/$/);
    assert.equal(steps.at(-1)!.out.trim(), 'hello from backend; caller: By=spiffe://cluster.local/ns/default/sa/backend;URI=spiffe://cluster.local/ns/istio-system/sa/istio-ingressgateway');
  });

  it("installs Prometheus on vm1: it finds both VMs' sidecars through the controller's catalog", async () => {
    const steps = await follow(/^curl -s http:\/\/127\.0\.0\.1:9090\/api\/v1\/query --data-urlencode 'query=up\{job="mesh-sidecars"\}'$/);
    const up = (JSON.parse(steps.at(-1)!.out) as { data: { result: { metric: Record<string, string>; value: [number, string] }[] } }).data.result;
    assert.deepEqual(up.map((r) => `${r.metric.service} ${r.value[1]}`).sort(), ['backend 1', 'frontend 1']);
    const calls = await exec(
      'vm1',
      `curl -s http://127.0.0.1:9090/api/v1/query --data-urlencode 'query=sum(istio_requests_total{reporter="destination",destination_service_name="backend"}) by (source_workload)'`,
    );
    assert.match(calls.out, /"source_workload":"frontend"/, calls.out);
    assert.equal(outputs.length, commands.length, 'every command of the page ran');
  });
});
