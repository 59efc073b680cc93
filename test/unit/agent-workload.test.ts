// How the agent reads what workloads declare, and what it decides to do about them.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fingerprint, hasApplication, interceptionFor, isRegistered, reconcile, registrationFor, sidecarArgs, type AgentSettings, type DiscoveredWorkload } from '../../core/agent/plan.js';
import { argsToEnv } from '../../agent/runtime/systemd-runtime.js';
import { checkHostServices, declarationFromLabels, declarationFromServiceFile, type WorkloadDeclaration } from '../../core/agent/workload.js';

const settings: AgentSettings = {
  controllerUrl: 'https://controller:15012',
  proxyUid: 1337,
  trustDomain: 'cluster.local',
  excludeInboundPorts: [22],
  excludeOutboundPorts: [],
  excludeOutboundCidrs: [],
};

function decl(labels: Record<string, string>, exposed: number[] = []): WorkloadDeclaration {
  const r = declarationFromLabels(labels, exposed);
  assert.ok(r?.ok, JSON.stringify(r));
  return r.value;
}

describe('Docker labels', () => {
  it('reads a labelled container', () => {
    const d = decl({ 'mesh.service': 'reviews', 'mesh.version': 'v2', 'mesh.port': '9080', 'mesh.exclude-ports': '5432', 'com.docker.compose.service': 'reviews-v2' });
    assert.deepEqual(d, {
      service: 'reviews',
      namespace: 'default',
      version: 'v2',
      ports: [9080],
      protocol: 'http',
      excludeInboundPorts: [5432],
      excludeOutboundPorts: [5432],
      excludeOutboundCidrs: [],
      sidecar: { inboundPort: 15006, outboundPort: 15001, adminPort: 15000, statusPort: 15020 },
    });
  });

  it('ignores containers without mesh labels', () => {
    assert.equal(declarationFromLabels({ 'com.docker.compose.service': 'db' }), undefined);
  });

  it('takes the port from the image when it exposes exactly one', () => {
    assert.deepEqual(decl({ 'mesh.service': 'ratings' }, [8080]).ports, [8080]);
  });

  it('names every bad label', () => {
    const r = declarationFromLabels({ 'mesh.service': 'Reviews_V1', 'mesh.port': '90800,abc', 'mesh.protocol': 'soap', 'mesh.verison': 'v1' }, [1, 2]);
    assert.ok(r && !r.ok);
    assert.deepEqual(
      r.violations.map((v) => `${v.path}: ${v.message}`),
      [
        'mesh.verison: unknown mesh label; known labels: mesh.service, mesh.namespace, mesh.service-account, mesh.version, mesh.port, mesh.protocol, mesh.exclude-ports, mesh.exclude-outbound-cidrs, mesh.gateway, mesh.labels',
        'mesh.service: "Reviews_V1" is not a valid service name: lowercase letters, digits and "-"',
        'mesh.protocol: "soap" is not one of http, http2, grpc, tcp',
        'mesh.port: "90800" is not a port (1-65535); write ports as a comma-separated list such as "9080,9443"',
        'mesh.port: "abc" is not a port (1-65535); write ports as a comma-separated list such as "9080,9443"',
      ],
    );
  });

  it('refuses an app port the sidecar needs, and a missing port', () => {
    const clash = declarationFromLabels({ 'mesh.service': 'web', 'mesh.port': '15001' });
    assert.ok(clash && !clash.ok);
    assert.match(clash.violations[0].message, /port 15001 is the sidecar's outboundPort/);
    const none = declarationFromLabels({ 'mesh.service': 'web' }, [80, 443]);
    assert.ok(none && !none.ok);
    assert.match(none.violations[0].message, /image exposes several ports \(80, 443\)/);
  });
});

describe('gateway declarations', () => {
  it('reads a gateway from labels: no port, its selector labels, every bad label named', () => {
    const d = decl({ 'mesh.service': 'istio-ingressgateway', 'mesh.namespace': 'istio-system', 'mesh.gateway': 'true', 'mesh.labels': 'istio=ingressgateway,team=edge' });
    assert.deepEqual([d.gateway, d.ports, d.labels], [true, [], { istio: 'ingressgateway', team: 'edge' }]);
    const bad = declarationFromLabels({ 'mesh.service': 'gw', 'mesh.gateway': 'yes', 'mesh.labels': 'istio,app=x' });
    assert.ok(bad && !bad.ok);
    assert.deepEqual(bad.violations.map((v) => v.path).sort(), ['mesh.gateway', 'mesh.labels', 'mesh.labels', 'mesh.port']);
    // An egress gateway declares where mesh workloads reach it: it is registered, with no sidecar in front.
    const egress: DiscoveredWorkload = {
      instanceId: 'eg',
      decl: decl({ 'mesh.service': 'istio-egressgateway', 'mesh.namespace': 'istio-system', 'mesh.gateway': 'true', 'mesh.labels': 'istio=egressgateway', 'mesh.port': '80' }),
      address: '172.18.0.8',
      appRef: 'c-eg',
    };
    assert.deepEqual([hasApplication(egress), isRegistered(egress)], [false, true]);
    const reg = registrationFor(egress);
    assert.deepEqual([reg.port, reg.sidecar, reg.labels], [80, undefined, { istio: 'egressgateway' }]);
  });

  it('reads a gateway service file, which needs no port and no user beside other services', () => {
    const r = declarationFromServiceFile({
      name: 'istio-ingressgateway',
      namespace: 'istio-system',
      gateway: true,
      labels: { istio: 'ingressgateway' },
      sidecar: { inboundPort: 15106, outboundPort: 15101, adminPort: 15100, statusPort: 15120 },
    });
    assert.ok(r.ok, JSON.stringify(r));
    assert.deepEqual([r.value.gateway, r.value.ports, r.value.labels], [true, [], { istio: 'ingressgateway' }]);
    const app = declarationFromServiceFile({ name: 'reviews', port: 9080 });
    assert.ok(app.ok);
    assert.deepEqual(
      checkHostServices([
        { file: 'gw.yaml', decl: r.value },
        { file: 'reviews.yaml', decl: app.value },
      ]),
      [],
    );
    const bad = declarationFromServiceFile({ name: 'gw', gateway: true, port: 8080, ports: [8081], labels: { istio: 7 } });
    assert.ok(!bad.ok);
    assert.deepEqual(bad.violations.map((v) => v.path).sort(), ['labels', 'ports']);
    const egress = declarationFromServiceFile({ name: 'istio-egressgateway', namespace: 'istio-system', gateway: true, port: 80, labels: { istio: 'egressgateway' } });
    assert.ok(egress.ok && egress.value.ports[0] === 80, 'an egress gateway declares where mesh workloads reach it');
  });
});

describe('VM service files', () => {
  it('reads a service file with defaults', () => {
    const r = declarationFromServiceFile({ name: 'ratings', port: 9080, version: 'v1', user: 'ratings' });
    assert.ok(r.ok);
    assert.equal(r.value.protocol, 'http');
    assert.deepEqual(r.value.sidecar, { inboundPort: 15006, outboundPort: 15001, adminPort: 15000, statusPort: 15020, dnsPort: 15053 });
  });

  it('names every field in error', () => {
    const r = declarationFromServiceFile({ name: 'x', port: 9080, ports: [1], protocol: 'ftp', sidecar: { inboundPort: 15000 }, colour: 'red' });
    assert.ok(!r.ok);
    assert.deepEqual(
      r.violations.map((v) => `${v.path}: ${v.message}`),
      [
        'protocol: "ftp" is not one of http, http2, grpc, tcp',
        'colour: unknown field; supported fields here: name, namespace, serviceAccount, version, port, ports, protocol, user, excludeInboundPorts, excludeOutboundPorts, excludeOutboundCidrs, sidecar, gateway, labels',
        'ports: only one of port, ports may be set, found port and ports',
      ],
    );
    const same = declarationFromServiceFile({ name: 'x', port: 9080, sidecar: { inboundPort: 15000 } });
    assert.ok(!same.ok);
    assert.deepEqual(
      same.violations.map((v) => v.path),
      ['sidecar'],
    );
  });

  it('requires users and distinct ports when a host declares several services', () => {
    const a = declarationFromServiceFile({ name: 'a', port: 9080 });
    const b = declarationFromServiceFile({ name: 'b', port: 9081, user: 'b' });
    assert.ok(a.ok && b.ok);
    const problems = checkHostServices([
      { file: 'a.yaml', decl: a.value },
      { file: 'b.yaml', decl: b.value },
    ]);
    assert.deepEqual(
      problems.map((v) => `${v.document} ${v.path}`),
      ['a.yaml user', 'b.yaml sidecar.inboundPort', 'b.yaml sidecar.outboundPort', 'b.yaml sidecar.adminPort', 'b.yaml sidecar.statusPort', 'b.yaml sidecar.dnsPort'],
    );
  });
});

describe('the agent plan', () => {
  const w = (id: string, labels: Record<string, string> = {}): DiscoveredWorkload => ({
    instanceId: id,
    decl: decl({ 'mesh.service': 'reviews', 'mesh.port': '9080', ...labels }),
    address: '172.18.0.4',
    appRef: `c-${id}`,
    netnsPid: 4242,
  });

  it('starts what is missing, keeps what matches, replaces what changed, removes orphans', () => {
    const a = w('a');
    const b = w('b');
    const c = w('c', { 'mesh.version': 'v2' });
    const plan = reconcile(
      [a, b, c],
      [
        { instanceId: 'a', ref: 's-a', fingerprint: fingerprint(a), running: true },
        { instanceId: 'c', ref: 's-c', fingerprint: fingerprint(w('c')), running: true },
        { instanceId: 'gone', ref: 's-gone', fingerprint: 'x', running: true },
      ],
    );
    assert.deepEqual(
      plan.keep.map((k) => k.sidecar.ref),
      ['s-a'],
    );
    assert.deepEqual(
      plan.start.map((x) => x.instanceId),
      ['b', 'c'],
    );
    assert.deepEqual(
      plan.remove.map((r) => r.ref),
      ['s-c', 's-gone'],
    );
  });

  it('restarts a sidecar that stopped', () => {
    const a = w('a');
    const plan = reconcile([a], [{ instanceId: 'a', ref: 's-a', fingerprint: fingerprint(a), running: false }]);
    assert.deepEqual([plan.start.length, plan.remove.length, plan.keep.length], [1, 1, 0]);
  });

  it('leaves a sidecar a person stopped stopped, even when its declaration changed since', () => {
    const a = w('a');
    const b = w('b', { 'mesh.version': 'v2' });
    const plan = reconcile(
      [a, b],
      [
        { instanceId: 'a', ref: 's-a', fingerprint: fingerprint(a), running: false, held: true },
        { instanceId: 'b', ref: 's-b', fingerprint: fingerprint(w('b')), running: false, held: true },
      ],
    );
    assert.deepEqual(
      plan.hold.map((h) => h.sidecar.ref),
      ['s-a', 's-b'],
    );
    assert.deepEqual([plan.start.length, plan.remove.length, plan.keep.length], [0, 0, 0]);
  });

  it('holds a sidecar restarting on request until it is ready, and removes a held one whose workload is gone', () => {
    const a = w('a');
    const plan = reconcile(
      [a],
      [
        { instanceId: 'a', ref: 's-a', fingerprint: fingerprint(a), running: true, held: true },
        { instanceId: 'gone', ref: 's-gone', fingerprint: 'x', running: false, held: true },
      ],
    );
    assert.deepEqual(
      plan.hold.map((h) => h.sidecar.ref),
      ['s-a'],
    );
    assert.deepEqual(plan.keep, []);
    assert.deepEqual(
      plan.remove.map((r) => r.ref),
      ['s-gone'],
    );
  });

  it('registers the instance with its version and a check that reaches the app through the sidecar status port', () => {
    assert.deepEqual(registrationFor(w('a', { 'mesh.version': 'v3' })), {
      id: 'a',
      service: 'reviews',
      namespace: 'default',
      address: '172.18.0.4',
      port: 9080,
      protocol: 'http',
      labels: { version: 'v3' },
      sidecar: { inboundPort: 15006, statusPort: 15020 },
      check: { http: 'http://172.18.0.4:15020/healthz/app', interval: '5s' },
    });
  });

  it('runs a gateway as mesh-proxy --gateway with its labels, with nothing to capture or register', () => {
    const gw: DiscoveredWorkload = {
      instanceId: 'gw',
      decl: decl({ 'mesh.service': 'istio-ingressgateway', 'mesh.namespace': 'istio-system', 'mesh.gateway': 'true', 'mesh.labels': 'istio=ingressgateway' }),
      address: '172.18.0.9',
      appRef: 'c-gw',
    };
    const args = sidecarArgs(gw, settings);
    assert.deepEqual(args.slice(args.indexOf('--gateway'), args.indexOf('--gateway') + 2), ['--gateway', 'true']);
    assert.ok(!args.includes('--app-port'));
    // Every flag comes with a value: the systemd runtime turns them into MESH_PROXY_* variables.
    assert.equal(argsToEnv(args).MESH_PROXY_LABELS, 'istio=ingressgateway');
    assert.equal(argsToEnv(args).MESH_PROXY_GATEWAY, 'true');
    const vmGateway = declarationFromServiceFile({ name: 'istio-ingressgateway', gateway: true, labels: { istio: 'ingressgateway' } });
    assert.ok(vmGateway.ok);
    assert.ok(!sidecarArgs({ ...gw, decl: vmGateway.value }, settings).includes('--dns-port'), 'a gateway runs no DNS proxy, even on a VM');
    assert.equal(hasApplication(gw), false);
    assert.notEqual(fingerprint(gw), fingerprint({ ...gw, decl: { ...gw.decl, labels: { istio: 'egressgateway' } } }));
  });

  it('builds the sidecar command line and the capture spec', () => {
    assert.deepEqual(sidecarArgs(w('a'), settings).slice(0, 4), ['--controller', 'https://controller:15012', '--service', 'reviews']);
    assert.deepEqual(interceptionFor([{ decl: w('a').decl }], settings), {
      proxyUid: 1337,
      workloads: [{ appPorts: [9080], inboundPort: 15006, outboundPort: 15001 }],
      excludeInboundPorts: [22, 15020],
      excludeOutboundPorts: [],
      excludeOutboundCidrs: [],
    });
  });
});
