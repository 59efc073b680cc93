// What the systemd units rely on: they pass `systemd-analyze verify`, and the capture commands
// their ExecStartPost/ExecStopPost run keep a VM's shared capture table right as sidecars come
// and go (real iptables in a namespace made here). The units run under a real systemd in
// test/e2e/vm-quickstart.test.ts (containers with systemd as PID 1).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { netnsAvailable, removeHosts, sh, uniqueName } from '../helpers/netns.js';

const root = new URL('../../../', import.meta.url).pathname;

describe('systemd units', { skip: spawnSync('systemd-analyze', ['--version']).status === 0 ? undefined : 'systemd-analyze is not installed' }, () => {
  it('pass systemd-analyze verify, the sidecar template as an instance too', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mesh-units-'));
    for (const u of ['mesh-controller.service', 'mesh-agent.service']) copyFileSync(join(root, 'systemd', u), join(dir, u));
    copyFileSync(join(root, 'systemd/mesh-proxy@.service'), join(dir, 'mesh-proxy@reviews-vm1.service'));
    const r = spawnSync('systemd-analyze', ['verify', ...['mesh-controller.service', 'mesh-agent.service', 'mesh-proxy@reviews-vm1.service'].map((u) => join(dir, u))], { encoding: 'utf8' });
    rmSync(dir, { recursive: true, force: true });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr.trim(), '', 'no warnings');
  });
});

describe("mesh-agent capture install/remove (the sidecar units' hooks)", { skip: netnsAvailable() }, () => {
  const ns = uniqueName('vm-cap');
  const work = mkdtempSync(join(tmpdir(), 'mesh-cap-'));
  const conf = join(work, 'services.d');
  const capture = (action: string, instance: string, ...extra: string[]) =>
    spawnSync(
      'ip',
      [
        'netns',
        'exec',
        ns,
        process.execPath,
        join(root, 'dist/agent/main.js'),
        'capture',
        action,
        instance,
        '--config-dir',
        conf,
        '--run-dir',
        join(work, 'run'),
        '--instance-prefix',
        'vm1',
        '--wait-ready',
        '0s',
        '--exclude-inbound-ports',
        '22',
        ...extra,
      ],
      { encoding: 'utf8' },
    );
  const nat = () => sh('ip', 'netns', 'exec', ns, 'iptables-save', '-t', 'nat');

  before(() => {
    sh('ip', 'netns', 'add', ns);
    mkdirSync(conf, { recursive: true });
    writeFileSync(join(conf, 'web.yaml'), 'name: web\nport: 8080\nuser: 2001\n');
    writeFileSync(join(conf, 'api.yaml'), 'name: api\nport: 9090\nuser: 2002\nsidecar: { inboundPort: 15106, outboundPort: 15101, adminPort: 15100, statusPort: 15120 }\n');
  });
  after(() => {
    removeHosts(ns);
    rmSync(work, { recursive: true, force: true });
  });

  it('captures each instance as its sidecar starts and releases it as it stops', () => {
    assert.equal(capture('install', 'web-vm1').status, 0);
    let rules = nat();
    assert.match(rules, /--dport 8080 -j REDIRECT --to-ports 15006/);
    assert.doesNotMatch(rules, /--dport 9090/);
    assert.equal(capture('install', 'api-vm1').status, 0);
    rules = nat();
    assert.match(rules, /--dport 9090 -j REDIRECT --to-ports 15106/);
    assert.match(rules, /--uid-owner 2002 -j REDIRECT --to-ports 15101/);
    assert.match(rules, /--dport 22 -j RETURN/);
    assert.equal(capture('remove', 'web-vm1').status, 0);
    rules = nat();
    assert.doesNotMatch(rules, /--dport 8080/);
    assert.match(rules, /--dport 9090/);
    assert.equal(capture('remove', 'api-vm1').status, 0);
    assert.doesNotMatch(nat(), /MESH_/);
  });

  it('refuses an unknown instance, and captures nothing for a sidecar that never gets ready', () => {
    const unknown = capture('install', 'nope-vm1');
    assert.equal(unknown.status, 1);
    assert.match(unknown.stderr, /no valid service file in .* declares instance "nope-vm1" \(known: api-vm1, web-vm1\)/);
    const late = capture('install', 'web-vm1', '--wait-ready', '1s');
    assert.equal(late.status, 1);
    assert.match(late.stderr, /sidecar of web-vm1 was not ready within 1 s; traffic is not captured/);
    assert.doesNotMatch(nat(), /MESH_/);
  });
});
