// The gateway part of a snapshot, compiled from Istio's own gateway samples (applied unchanged,
// namespace `default`, as `kubectl apply` would put them) plus a golden file of the whole gateway
// snapshot. After an intended change: UPDATE_GOLDEN=1 npm test, and review test/golden/.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import type { ServiceInstance } from '../../core/catalog-model.js';
import { parseDocuments } from '../../core/resources/parse.js';
import { validateResource } from '../../core/resources/validate.js';
import type { Resource } from '../../core/resources/types.js';
import { SnapshotCompiler, type CompileContext } from '../../core/snapshot/compile.js';
import { hostMatches, serverTakes } from '../../core/snapshot/gateway-binding.js';
import { RuntimeConfig } from '../../proxy/runtime-config.js';
import { checkGoldenJson } from '../helpers/golden.js';

const samples = new URL('../../../test/fixtures/istio-samples/', import.meta.url);

function load(...files: string[]): Resource[] {
  return files.flatMap((f) => parseDocuments(readFileSync(new URL(f, samples), 'utf8'), f).map((d) => validateResource(d.value, d.where)));
}

function instance(id: string, service: string, port: number, version = 'v1'): ServiceInstance {
  return { id, service, namespace: 'default', address: `10.0.0.${id.length}`, port, protocol: 'http', labels: { version }, sidecar: { inboundPort: 15006 }, healthy: true };
}

function context(resources: Resource[]): CompileContext {
  const services = new Map<string, ServiceInstance[]>([
    ['default/productpage', [instance('productpage-1', 'productpage', 9080)]],
    ['default/httpbin', [instance('httpbin-1', 'httpbin', 8000)]],
    [
      'default/tcp-echo',
      [
        { ...instance('tcp-echo-v1', 'tcp-echo', 9000), protocol: 'tcp' },
        { ...instance('tcp-echo-v2', 'tcp-echo', 9000, 'v2'), protocol: 'tcp' },
      ],
    ],
  ]);
  return { resources, services, trustDomain: 'cluster.local', rootNamespace: 'istio-system', trustBundle: ['-----BEGIN CERTIFICATE-----\nROOT\n-----END CERTIFICATE-----\n'] };
}

const ingress = { id: 'ingress-1', service: 'istio-ingressgateway', namespace: 'istio-system', labels: { istio: 'ingressgateway' }, gateway: true };

describe('gateway snapshots', () => {
  it("carry bookinfo-gateway.yaml's server and routes; the sidecars do not get the gateway's routes", () => {
    const ctx = context(load('gateways/bookinfo-gateway.yaml'));
    const { snapshot, jsonParts } = new SnapshotCompiler(ctx).compile(ingress);
    assert.deepEqual(JSON.parse(jsonParts.join('')), snapshot);
    const [listener] = snapshot.gateway!.listeners;
    assert.deepEqual([listener.port, listener.protocol, listener.gateways], [8080, 'HTTP', ['default/bookinfo-gateway']]);
    assert.deepEqual(
      listener.virtualHosts.map((v) => [v.name, v.hosts]),
      [['bookinfo', ['*']]],
    );
    const route = listener.virtualHosts[0].httpRoutes[0];
    assert.equal(route.match.length, 5);
    assert.deepEqual(route.action, { type: 'route', destinations: [{ cluster: 'outbound||productpage.default', weight: 100, port: 9080 }] });
    assert.ok(
      snapshot.outbound.services.some((s) => s.clusters.some((c) => c.name === 'outbound||productpage.default')),
      'the cluster is in the outbound config',
    );

    const sidecar = new SnapshotCompiler(ctx).compile({ id: 'productpage-1', service: 'productpage', namespace: 'default' }).snapshot;
    assert.equal(sidecar.gateway, undefined);
    assert.ok(sidecar.outbound.services.every((s) => s.httpRoutes.every((r) => !r.name.startsWith('default/bookinfo/'))));
    checkGoldenJson('snapshot-ingress-gateway', snapshot);
  });

  it('gives a proxy only the Gateways whose selector matches its labels', () => {
    const ctx = context(load('gateways/bookinfo-gateway.yaml'));
    const other = new SnapshotCompiler(ctx).compile({ ...ingress, labels: { istio: 'egressgateway' } }).snapshot;
    assert.deepEqual(other.gateway, { listeners: [] });
  });

  it("routes tcp-echo's TCP gateway port by weight to subsets, as tcp-echo-20-v2.yaml says", () => {
    // The 80/20 VirtualService replaces the all-v1 one of the same name, as `kubectl apply` does.
    const resources = [...load('gateways/tcp-echo-all-v1.yaml').filter((r) => r.kind !== 'VirtualService'), ...load('gateways/tcp-echo-20-v2.yaml')];
    const { snapshot } = new SnapshotCompiler(context(resources)).compile(ingress);
    const [listener] = snapshot.gateway!.listeners;
    assert.deepEqual([listener.port, listener.protocol], [31400, 'TCP']);
    assert.deepEqual(listener.virtualHosts[0].tcpRoutes[0].destinations, [
      { cluster: 'outbound|v1|tcp-echo.default', weight: 80, port: 9000 },
      { cluster: 'outbound|v2|tcp-echo.default', weight: 20, port: 9000 },
    ]);
  });

  it('merges several Gateways on one port, and VirtualServices for one host as Istio does: oldest first, catch-all routes last', () => {
    const [httpbin, helloworld] = [load('gateways/httpbin-gateway.yaml'), load('gateways/helloworld-gateway.yaml')];
    for (const r of httpbin) r.metadata.creationTimestamp = '2026-01-01T00:00:00Z';
    for (const r of helloworld) r.metadata.creationTimestamp = '2026-01-02T00:00:00Z';
    const [listener] = new SnapshotCompiler(context([...httpbin, ...helloworld])).compile(ingress).snapshot.gateway!.listeners;
    assert.deepEqual([listener.port, listener.gateways], [80, ['default/httpbin-gateway', 'default/helloworld-gateway']]);
    assert.deepEqual(
      listener.virtualHosts.map((v) => [v.name, v.hosts, v.httpRoutes.map((r) => r.name)]),
      [['httpbin+helloworld', ['*'], ['default/helloworld/0', 'default/httpbin/0']]],
    );
  });

  it("splits one VirtualService between the sidecars and a gateway by its matches' gateways, and gives each ServiceEntry port and port-level policy its own cluster", () => {
    const docs = parseDocuments(
      `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ext}
spec:
  hosts: [external.example.com]
  ports: [{number: 80, name: http, protocol: HTTP}, {number: 443, name: https, protocol: HTTPS}]
  resolution: STATIC
  endpoints: [{address: 10.9.9.9}]
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: egress, namespace: istio-system}
spec:
  selector: {istio: egressgateway}
  servers: [{port: {number: 80, protocol: HTTP}, hosts: ['*/external.example.com']}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: via-egress}
spec:
  hosts: [external.example.com]
  gateways: [istio-system/egress, mesh]
  http:
  - match: [{gateways: [mesh], port: 80}]
    route: [{destination: {host: httpbin}}]
  - match: [{gateways: [istio-system/egress], port: 80}]
    route: [{destination: {host: external.example.com, port: {number: 443}}}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: ext}
spec:
  host: external.example.com
  trafficPolicy: {portLevelSettings: [{port: {number: 443}, tls: {mode: SIMPLE}}]}
`,
      'egress.yaml',
    ).map((d) => validateResource(d.value, d.where));
    const compiler = new SnapshotCompiler(context(docs));
    const sidecar = compiler.compile({ id: 'httpbin-1', service: 'httpbin', namespace: 'default' }).snapshot;
    const ext = sidecar.outbound.services.find((x) => x.name === 'external.example.com')!;
    assert.deepEqual(
      ext.httpRoutes.map((r) => r.name),
      ['default/via-egress/0'],
      'the sidecars get the mesh match only',
    );
    const gw = compiler.compile({ id: 'egress-1', service: 'istio-egressgateway', namespace: 'istio-system', labels: { istio: 'egressgateway' }, gateway: true }).snapshot;
    assert.deepEqual(
      gw.gateway!.listeners[0].virtualHosts[0].httpRoutes.map((r) => r.name),
      ['default/via-egress/1'],
      'the gateway gets its own match only',
    );
    const runtime = new RuntimeConfig(gw);
    const whole = runtime.clusterFor('outbound||external.example.com.default')!;
    const tls443 = runtime.clusterFor('outbound||external.example.com.default', 443)!;
    const plain80 = runtime.clusterFor('outbound||external.example.com.default', 80)!;
    assert.deepEqual(
      whole.cluster.endpoints.map((e) => e.port),
      [80, 443],
    );
    assert.deepEqual([tls443.cluster.tls.mode, tls443.cluster.endpoints.map((e) => e.port)], ['SIMPLE', [443]]);
    assert.deepEqual([plain80.cluster.tls.mode, plain80.cluster.endpoints.map((e) => e.port)], ['DISABLE', [80]]);
  });

  it('reads server hosts as Istio does: namespace prefixes, wildcards, the narrower host served', () => {
    assert.equal(serverTakes('*', 'istio-system', 'default', 'bookinfo.com'), 'bookinfo.com');
    assert.equal(serverTakes('*.example.com', 'istio-system', 'default', '*'), '*.example.com');
    assert.equal(serverTakes('default/*', 'istio-system', 'default', 'a.example.com'), 'a.example.com');
    assert.equal(serverTakes('prod/*', 'istio-system', 'default', 'a.example.com'), undefined);
    assert.equal(serverTakes('./*', 'default', 'default', 'x.com'), 'x.com');
    assert.equal(serverTakes('./*', 'istio-system', 'default', 'x.com'), undefined);
    assert.equal(serverTakes('a.example.com', 'istio-system', 'default', 'b.example.com'), undefined);
    assert.ok(hostMatches('*.example.com', 'a.b.example.com'));
    assert.ok(!hostMatches('*.example.com', 'example.com'));
  });
});
