// meshctl analyze's checks, each on the smallest set of resources and catalog that shows it, and
// a clean mesh that shows nothing. No sockets.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { analyze, FINDING_CODES } from '../../core/analysis/analyze.js';
import { validateResource } from '../../core/resources/validate.js';
import { serviceInstance } from '../helpers/instances.js';

const instance = (service: string, version: string, namespace = 'default') => serviceInstance(service, { namespace, version });
const catalog = new Map([
  ['default/reviews', [instance('reviews', 'v1'), instance('reviews', 'v2')]],
  ['default/ratings', [instance('ratings', 'v1')]],
]);
const res = (doc: object) => validateResource(doc);
const vs = (name: string, spec: object) => res({ apiVersion: 'networking.istio.io/v1', kind: 'VirtualService', metadata: { name }, spec });
const dr = (name: string, spec: object) => res({ apiVersion: 'networking.istio.io/v1', kind: 'DestinationRule', metadata: { name }, spec });
const run = (...resources: ReturnType<typeof res>[]) => analyze({ resources, services: catalog, rootNamespace: 'istio-system' });
const codes = (f: ReturnType<typeof run>) => f.map((x) => `${x.code} ${x.level} ${x.resource}`);

describe('meshctl analyze', () => {
  it('finds nothing in a mesh whose resources fit together', () => {
    assert.deepEqual(
      run(
        dr('reviews', { host: 'reviews', subsets: [{ name: 'v1', labels: { version: 'v1' } }] }),
        vs('reviews', { hosts: ['reviews'], http: [{ route: [{ destination: { host: 'reviews', subset: 'v1' } }] }] }),
      ),
      [],
    );
  });

  it('names a route to a subset no DestinationRule defines, and a host that names nothing', () => {
    const f = run(vs('reviews', { hosts: ['reviews'], http: [{ route: [{ destination: { host: 'reviews', subset: 'v3' } }] }, { route: [{ destination: { host: 'nowhere' } }] }] }));
    assert.deepEqual(codes(f), [`${FINDING_CODES.SUBSET_NOT_FOUND} Error VirtualService default/reviews`, `${FINDING_CODES.HOST_NOT_FOUND} Error VirtualService default/reviews`]);
    assert.match(f[0].message, /subset "v3" of "reviews" is defined by no DestinationRule/);
    assert.match(f[1].message, /destination host "nowhere" names no service/);
  });

  it('names two VirtualServices for one host', () => {
    const f = run(
      vs('a', { hosts: ['ratings'], http: [{ route: [{ destination: { host: 'ratings' } }] }] }),
      vs('b', { hosts: ['ratings.default.svc.cluster.local'], http: [{ route: [{ destination: { host: 'ratings' } }] }] }),
    );
    assert.deepEqual(codes(f), [`${FINDING_CODES.CONFLICTING_VIRTUAL_SERVICES} Error VirtualService default/a`, `${FINDING_CODES.CONFLICTING_VIRTUAL_SERVICES} Error VirtualService default/b`]);
  });

  it("names a gateway a VirtualService is bound to that no Gateway defines, and leaves a gateway's external hosts alone", () => {
    const gw = res({
      apiVersion: 'networking.istio.io/v1',
      kind: 'Gateway',
      metadata: { name: 'ingress' },
      spec: { selector: { istio: 'ingressgateway' }, servers: [{ port: { number: 80, protocol: 'HTTP' }, hosts: ['*'] }] },
    });
    const bound = (name: string, gateways: string[]) => vs(name, { hosts: ['bookinfo.example.com'], gateways, http: [{ route: [{ destination: { host: 'reviews' } }] }] });
    assert.deepEqual(run(gw, bound('a', ['ingress']), bound('b', ['default/ingress'])), []);
    assert.deepEqual(codes(run(gw, bound('c', ['missing']))), [`${FINDING_CODES.GATEWAY_NOT_FOUND} Error VirtualService default/c`]);
  });

  it('names a policy whose selector matches no workload', () => {
    const ap = res({ apiVersion: 'security.istio.io/v1', kind: 'AuthorizationPolicy', metadata: { name: 'p' }, spec: { selector: { matchLabels: { app: 'ratngs' } }, action: 'DENY', rules: [{}] } });
    const ok = res({ apiVersion: 'security.istio.io/v1', kind: 'AuthorizationPolicy', metadata: { name: 'q' }, spec: { selector: { matchLabels: { app: 'ratings' } }, action: 'DENY', rules: [{}] } });
    assert.deepEqual(codes(run(ap, ok)), [`${FINDING_CODES.SELECTOR_MATCHES_NOTHING} Warning AuthorizationPolicy default/p`]);
  });

  it('names a DestinationRule that turns TLS off towards STRICT workloads', () => {
    const strict = res({ apiVersion: 'security.istio.io/v1', kind: 'PeerAuthentication', metadata: { name: 'default', namespace: 'istio-system' }, spec: { mtls: { mode: 'STRICT' } } });
    const f = run(strict, dr('ratings', { host: 'ratings', trafficPolicy: { tls: { mode: 'DISABLE' } } }));
    assert.deepEqual(codes(f), [`${FINDING_CODES.TLS_DISABLED_UNDER_STRICT} Error DestinationRule default/ratings`]);
    assert.deepEqual(run(dr('ratings', { host: 'ratings', trafficPolicy: { tls: { mode: 'DISABLE' } } })), [], 'without STRICT, plaintext is allowed');
  });
});
