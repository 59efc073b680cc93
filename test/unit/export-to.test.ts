// Istio's exportTo on VirtualService, DestinationRule and ServiceEntry: what validation accepts
// and refuses, and which proxies (by namespace, sidecars and gateways) a resource reaches.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Resource } from '../../core/resources/types.js';
import { validateResource } from '../../core/resources/validate.js';
import { SnapshotCompiler } from '../../core/snapshot/compile.js';
import type { OutboundService, ProxySnapshot as Snapshot } from '../../core/snapshot/types.js';
import { serviceInstance } from '../helpers/instances.js';

let clock = 0;
const doc = (kind: string, name: string, namespace: string, spec: object): Resource => ({
  apiVersion: kind === 'Gateway' || kind === 'VirtualService' || kind === 'DestinationRule' || kind === 'ServiceEntry' ? 'networking.istio.io/v1' : 'v1',
  kind: kind as Resource['kind'],
  metadata: { name, namespace, creationTimestamp: new Date(Date.UTC(2026, 0, 1, 0, 0, clock++)).toISOString() },
  spec,
});
const services = new Map([
  ['shop/reviews', [serviceInstance('reviews', { namespace: 'shop', version: 'v1', sidecar: true }), serviceInstance('reviews', { namespace: 'shop', version: 'v2', sidecar: true })]],
]);
const compiler = (resources: Resource[]) => new SnapshotCompiler({ resources, services, trustDomain: 'cluster.local', rootNamespace: 'istio-system', trustBundle: [] });
const sidecarIn = (c: SnapshotCompiler, namespace: string): Snapshot => c.compile({ id: `client-${namespace}`, service: 'client', namespace }).snapshot;
const reviews = (s: Snapshot): OutboundService => s.outbound.services.find((x) => x.name === 'reviews' && x.namespace === 'shop')!;
const routedTo = (s: Snapshot) => {
  const a = reviews(s).httpRoutes[0].action;
  return a.type === 'route' ? a.destinations.map((d) => d.cluster) : [];
};

describe('exportTo', () => {
  const toV2 = (exportTo?: string[]) =>
    doc('VirtualService', 'reviews', 'shop', {
      hosts: ['reviews'],
      ...(exportTo ? { exportTo } : {}),
      http: [{ route: [{ destination: { host: 'reviews', subset: 'v2' } }] }],
    });
  const subsets = (name: string, namespace: string, exportTo: string[] | undefined, lb: string) =>
    doc('DestinationRule', name, namespace, {
      host: 'reviews.shop.svc.cluster.local',
      ...(exportTo ? { exportTo } : {}),
      trafficPolicy: { loadBalancer: { simple: lb } },
      subsets: [
        { name: 'v1', labels: { version: 'v1' } },
        { name: 'v2', labels: { version: 'v2' } },
      ],
    });

  it("routes with a VirtualService only the proxies of the namespaces it is exported to ('.' is its own)", () => {
    const own = compiler([toV2(['.']), subsets('reviews', 'shop', undefined, 'RANDOM')]);
    assert.deepEqual(routedTo(sidecarIn(own, 'shop')), ['outbound|v2|reviews.shop']);
    assert.deepEqual(routedTo(sidecarIn(own, 'web')), ['outbound||reviews.shop'], 'web does not see it: the default route');
    const named = compiler([toV2(['web']), subsets('reviews', 'shop', undefined, 'RANDOM')]);
    assert.deepEqual(routedTo(sidecarIn(named, 'web')), ['outbound|v2|reviews.shop']);
    assert.deepEqual(routedTo(sidecarIn(named, 'shop')), ['outbound||reviews.shop'], 'exported to web only, not even to its own namespace');
    const all = compiler([toV2(['*'])]);
    assert.deepEqual(routedTo(sidecarIn(all, 'web')), ['outbound|v2|reviews.shop']);
  });

  it("takes the proxy's own namespace's DestinationRule first, then the service's, and none exported to nobody", () => {
    const lbOf = (s: Snapshot) => reviews(s).clusters.find((c) => c.name === 'outbound||reviews.shop')!.lb.type;
    // The service's rule is older; the client namespace's rule (exported to itself) still wins there.
    const c = compiler([subsets('reviews', 'shop', undefined, 'RANDOM'), subsets('reviews-for-web', 'web', ['.'], 'LEAST_REQUEST')]);
    assert.equal(lbOf(sidecarIn(c, 'web')), 'LEAST_REQUEST');
    assert.equal(lbOf(sidecarIn(c, 'shop')), 'RANDOM');
    assert.equal(lbOf(sidecarIn(c, 'other')), 'RANDOM');
    const hidden = compiler([subsets('reviews', 'shop', ['~'], 'RANDOM')]);
    assert.equal(lbOf(sidecarIn(hidden, 'shop')), 'ROUND_ROBIN', 'a rule exported to nobody applies nowhere');
  });

  it('lists a ServiceEntry only in the namespaces it is exported to', () => {
    const se = doc('ServiceEntry', 'payments', 'shop', { hosts: ['api.payments.example'], exportTo: ['.'], ports: [{ number: 443, protocol: 'TLS' }], resolution: 'DNS' });
    const c = compiler([se]);
    const hosts = (s: Snapshot) => s.outbound.services.filter((x) => x.external).map((x) => x.name);
    assert.deepEqual(hosts(sidecarIn(c, 'shop')), ['api.payments.example']);
    assert.deepEqual(hosts(sidecarIn(c, 'web')), []);
  });

  it("binds a VirtualService to a gateway only when it is exported to the gateway's namespace", () => {
    const gw = doc('Gateway', 'front', 'edge', { selector: { istio: 'ingressgateway' }, servers: [{ port: { number: 8080, name: 'http', protocol: 'HTTP' }, hosts: ['*'] }] });
    const vs = (exportTo: string[]) =>
      doc('VirtualService', 'shop-front', 'shop', { hosts: ['shop.example'], gateways: ['edge/front'], exportTo, http: [{ route: [{ destination: { host: 'reviews' } }] }] });
    const hostsAt = (c: SnapshotCompiler) =>
      c
        .compile({ id: 'gw-1', service: 'ingressgateway', namespace: 'edge', labels: { istio: 'ingressgateway' }, gateway: true })
        .snapshot.gateway!.listeners.flatMap((l) => l.virtualHosts.flatMap((h) => h.hosts));
    assert.deepEqual(hostsAt(compiler([gw, vs(['edge'])])), ['shop.example']);
    assert.deepEqual(hostsAt(compiler([gw, vs(['.'])])), []);
  });

  it("accepts Istio's forms and refuses the rest, naming the entry", () => {
    const v = (kind: string, exportTo: unknown) =>
      validateResource({
        apiVersion: 'networking.istio.io/v1',
        kind,
        metadata: { name: 'x', namespace: 'shop' },
        spec:
          kind === 'VirtualService'
            ? { hosts: ['reviews'], exportTo, http: [{ route: [{ destination: { host: 'reviews' } }] }] }
            : kind === 'DestinationRule'
              ? { host: 'reviews', exportTo }
              : { hosts: ['api.example'], exportTo, ports: [{ number: 443, protocol: 'TLS' }] },
      });
    for (const kind of ['VirtualService', 'DestinationRule', 'ServiceEntry']) {
      for (const ok of [['.'], ['*'], ['web', 'payments'], ['.', 'web']]) assert.equal(v(kind, ok).kind, kind);
      assert.throws(() => v(kind, ['*', 'web']), /spec\.exportTo: "\*" cannot be combined/);
      assert.throws(() => v(kind, ['web', 'web']), /spec\.exportTo\[1\]: "web" is listed twice/);
      assert.throws(() => v(kind, ['Web_1']), /spec\.exportTo\[0\]: "Web_1" is not "\.", "\*"/);
      assert.throws(() => v(kind, '.'), /spec\.exportTo: must be a list/);
    }
    assert.equal(v('DestinationRule', ['~']).kind, 'DestinationRule');
    assert.equal(v('ServiceEntry', ['~']).kind, 'ServiceEntry');
    assert.throws(() => v('ServiceEntry', ['~', 'web']), /"~" cannot be combined/);
    assert.throws(() => v('VirtualService', ['~']), /spec\.exportTo\[0\]: exportTo "~" .* only for DestinationRules and ServiceEntries/);
  });
});
