import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ServiceInstance } from '../../core/catalog-model.js';
import { describeService, describeWorkload, type DescribeInput } from '../../core/describe.js';
import { meshGraph } from '../../core/mesh-graph.js';
import type { Resource } from '../../core/resources/types.js';

const inst = (id: string, service: string, version: string, sidecar = true): ServiceInstance => ({
  id,
  service,
  namespace: 'default',
  address: '10.0.0.1',
  port: 9080,
  labels: { version },
  healthy: true,
  ...(sidecar ? { sidecar: { inboundPort: 15006 } } : {}),
});
const res = (kind: string, name: string, spec: unknown, namespace = 'default'): Resource => ({ apiVersion: 'v1', kind: kind as Resource['kind'], metadata: { name, namespace }, spec });

const input = (resources: Resource[]): DescribeInput => ({
  resources,
  services: new Map([
    ['default/reviews', [inst('reviews-1', 'reviews', 'v1'), inst('reviews-2', 'reviews', 'v2')]],
    ['default/productpage', [inst('productpage-1', 'productpage', 'v1')]],
  ]),
  rootNamespace: 'istio-system',
  proxyStatus: new Map([['reviews-1', 'SYNCED']]),
  findings: [{ code: 'MSH0101', level: 'Error', resource: 'VirtualService default/reviews', message: 'subset v9' }],
});

describe('describe', () => {
  const resources = [
    res('VirtualService', 'reviews', { hosts: ['reviews'], http: [{ route: [{ destination: { host: 'reviews', subset: 'v9' } }] }] }),
    res('VirtualService', 'front', { hosts: ['shop.example.com'], gateways: ['ingress'], http: [{ route: [{ destination: { host: 'reviews.default.svc.cluster.local' } }] }] }),
    res('DestinationRule', 'reviews', { host: 'reviews.default', subsets: [{ name: 'v1', labels: { version: 'v1' } }] }),
    res('DestinationRule', 'ratings', { host: 'ratings' }),
    res('AuthorizationPolicy', 'v2-only', { selector: { matchLabels: { version: 'v2' } } }),
    res('AuthorizationPolicy', 'other-ns', {}, 'prod'),
    res('PeerAuthentication', 'mesh', { mtls: { mode: 'STRICT' } }, 'istio-system'),
    res('RequestAuthentication', 'pp', { selector: { matchLabels: { app: 'productpage' } } }),
  ];

  it('lists what routes to a service, its traffic policy, and the policies that select it, with their scope', () => {
    const d = describeService(input(resources), 'default', 'reviews')!;
    assert.deepEqual(
      d.resources.map((r) => `${r.kind} ${r.name}: ${r.why}`),
      [
        'VirtualService reviews: routes requests for it (mesh)',
        'VirtualService front: sends requests for shop.example.com to it (gateway default/ingress)',
        'DestinationRule reviews: traffic policy, subsets v1',
        'AuthorizationPolicy v2-only: selects it, 1 of 2 instances',
        'PeerAuthentication mesh: mesh-wide',
      ],
    );
    assert.deepEqual(d.versions, ['v1', 'v2']);
    assert.deepEqual(
      d.instances.map((i) => `${i.id} ${i.workload} ${i.proxy}`),
      ['reviews-1 reviews-v1 SYNCED', 'reviews-2 reviews-v2 not connected'],
    );
    assert.deepEqual(
      d.findings.map((f) => f.code),
      ['MSH0101'],
    );
  });

  it('narrows to one workload: its instances and the policies that select them', () => {
    const d = describeWorkload(input(resources), 'default', 'reviews-v1')!;
    assert.equal(d.workload, 'reviews-v1');
    assert.deepEqual(
      d.instances.map((i) => i.id),
      ['reviews-1'],
    );
    assert.ok(!d.resources.some((r) => r.name === 'v2-only'));
    assert.equal(describeWorkload(input(resources), 'default', 'reviews-2')!.instances[0].id, 'reviews-2');
  });

  it('knows nothing of what the catalog does not hold', () => {
    assert.equal(describeService(input(resources), 'default', 'ratings'), undefined);
    assert.equal(describeWorkload(input(resources), 'prod', 'reviews-v1'), undefined);
  });
});

describe('meshGraph', () => {
  it('has a node per service, with sidecars and their sync, and nodes for callers outside the catalog', () => {
    const edge = { source: 'unknown', destination: 'default/reviews', requests: 3, requestsPerSecond: 0.05, errorRate: 0, p50Ms: 1, p99Ms: 2, mtlsShare: 0 };
    const g = meshGraph(input([]).services, new Map([['reviews-1', 'SYNCED']]), [edge]);
    assert.deepEqual(
      g.nodes.map((n) => `${n.id} ${n.instances} ${n.synced}/${n.sidecars} ${n.outside}`),
      ['default/productpage 1 0/1 false', 'default/reviews 2 1/2 false', 'unknown 0 0/0 true'],
    );
    assert.equal(g.edges.length, 1);
  });
});
