// Capture rules for real: two network namespaces joined by a veth pair stand in for a client
// host and a workload's host. The rules are applied in the workload's namespace.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { IptablesInterceptor } from '../../agent/interception/iptables.js';
import type { InterceptionSpec } from '../../core/interception/rules.js';
import { joinedHosts, netnsAvailable, nodeOutput, probeScript, removeHosts, replyServer, sh, uniqueName, waitReady } from '../helpers/netns.js';

const unavailable = netnsAvailable();

describe('capture rules in network namespaces', { skip: unavailable }, () => {
  const client = uniqueName('mesh-c');
  const workload = uniqueName('mesh-w');
  const servers: ChildProcess[] = [];
  const rules = new IptablesInterceptor(workload);
  const spec: InterceptionSpec = {
    proxyUid: 1337,
    workloads: [{ inboundPort: 15006, outboundPort: 15001, appPorts: [9080] }],
    excludeInboundPorts: [22],
    excludeOutboundPorts: [],
    excludeOutboundCidrs: [],
  };

  before(async () => {
    joinedHosts({ name: client, ip: '10.254.7.1', ip6: 'fd00:254:7::1' }, { name: workload, ip: '10.254.7.2', ip6: 'fd00:254:7::2' });
    // In the workload's namespace: the app, and stand-ins for the sidecar's two listeners (on
    // '::', which takes IPv4 and IPv6 alike).
    const inWorkload = [replyServer(workload, 9080, 'app', '::'), replyServer(workload, 15006, 'sidecar-inbound', '::'), replyServer(workload, 15001, 'sidecar-outbound', '::')];
    // In the client's namespace: a server the workload calls.
    const inClient = [replyServer(client, 7777, 'remote')];
    servers.push(...inWorkload, ...inClient);
    await Promise.all(servers.map(waitReady));
  });

  after(async () => {
    for (const s of servers) s.kill('SIGKILL');
    removeHosts(client, workload);
  });

  it('without rules, traffic goes where it is addressed', async () => {
    assert.equal(await nodeOutput(client, probeScript('10.254.7.2', 9080)), 'app');
    assert.equal(await nodeOutput(workload, probeScript('10.254.7.1', 7777)), 'remote');
  });

  it("sends the app's inbound and outbound traffic through the sidecar, but not the sidecar's own", async () => {
    await rules.apply(spec);
    assert.equal(await nodeOutput(client, probeScript('10.254.7.2', 9080)), 'sidecar-inbound', 'inbound to the app port is captured');
    assert.equal(await nodeOutput(workload, probeScript('10.254.7.1', 7777)), 'sidecar-outbound', "the app's outbound call is captured");
    assert.equal(await nodeOutput(workload, probeScript('10.254.7.1', 7777), { uid: 1337 }), 'remote', "the sidecar's own call (UID 1337) is not looped back");
    assert.equal(await nodeOutput(workload, probeScript('127.0.0.1', 9080)), 'app', 'loopback calls are left alone');
  });

  it('is idempotent and removes only what it added', async () => {
    await rules.apply(spec);
    await rules.apply(spec);
    const dump = await rules.dump();
    assert.equal(dump.match(/-A PREROUTING .*MESH_INBOUND/g)?.length, 1, dump);
    assert.equal(dump.match(/-A OUTPUT .*MESH_OUTPUT/g)?.length, 1, dump);
    // A rule someone else owns stays.
    sh('ip', 'netns', 'exec', workload, 'iptables', '-t', 'nat', '-A', 'OUTPUT', '-p', 'udp', '--dport', '5353', '-j', 'RETURN');
    await rules.remove();
    await rules.remove();
    const after = await rules.dump();
    assert.doesNotMatch(after, /MESH_/);
    assert.match(after, /--dport 5353 -j RETURN/);
    assert.equal(await nodeOutput(client, probeScript('10.254.7.2', 9080)), 'app', 'traffic flows directly again');
  });

  it('mirrors the capture for IPv6 where the host has it, and removes both', async () => {
    const both = new IptablesInterceptor(workload, ['ipv4', 'ipv6']);
    await both.apply(spec);
    assert.equal(await nodeOutput(client, probeScript('fd00:254:7::2', 9080)), 'sidecar-inbound', 'inbound over IPv6 is captured');
    assert.equal(await nodeOutput(client, probeScript('10.254.7.2', 9080)), 'sidecar-inbound', 'and over IPv4');
    assert.match(await both.dump('ipv6'), /-A MESH_OUTPUT -d ::1\/128 -j RETURN/);
    await both.remove();
    assert.doesNotMatch(await both.dump('ipv6'), /MESH_/);
    assert.equal(await nodeOutput(client, probeScript('fd00:254:7::2', 9080)), 'app');
  });

  it('refuses a bad specification before touching the namespace', async () => {
    await assert.rejects(rules.apply({ ...spec, workloads: [{ ...spec.workloads[0], inboundPort: 0 }] }), /inboundPort: 0 is not a port/);
    assert.doesNotMatch(await rules.dump(), /MESH_/);
  });
});
