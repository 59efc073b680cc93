// Istio's Sidecar resource: which one applies to a workload, which services its egress hosts
// admit, and the snapshot of a sidecar under one (a gateway is not scoped by it).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Resource, SidecarSpec } from '../../core/resources/types.js';
import { validateResource } from '../../core/resources/validate.js';
import { SnapshotCompiler } from '../../core/snapshot/compile.js';
import { egressAdmits, sidecarFor } from '../../core/snapshot/sidecar-scope.js';
import { serviceInstance } from '../helpers/instances.js';

let clock = 0;
const sidecar = (name: string, namespace: string, spec: SidecarSpec): Resource<SidecarSpec> => ({
  apiVersion: 'networking.istio.io/v1',
  kind: 'Sidecar',
  metadata: { name, namespace, creationTimestamp: new Date(Date.UTC(2026, 0, 1, 0, 0, clock++)).toISOString() },
  spec,
});
const inst = (service: string, namespace: string) => serviceInstance(service, { namespace, sidecar: true });

describe('Sidecar scope', () => {
  const meshDefault = sidecar('default', 'istio-system', { egress: [{ hosts: ['./*', 'istio-system/*'] }] });
  const nsWide = sidecar('default', 'shop', { egress: [{ hosts: ['./*', 'payments/*'] }] });
  const ratings = sidecar('ratings', 'shop', { workloadSelector: { labels: { app: 'ratings' } }, egress: [{ hosts: ['*/reviews.shop.svc.cluster.local', '~/*'] }] });

  it("picks the workload's own, then its namespace's, then the mesh default", () => {
    const all = [meshDefault, nsWide, ratings];
    assert.equal(sidecarFor(all, { namespace: 'shop', labels: { app: 'ratings' } }, 'istio-system'), ratings);
    assert.equal(sidecarFor(all, { namespace: 'shop', labels: { app: 'cart' } }, 'istio-system'), nsWide);
    assert.equal(sidecarFor(all, { namespace: 'web', labels: {} }, 'istio-system'), meshDefault);
    assert.equal(sidecarFor([ratings], { namespace: 'web', labels: {} }, 'istio-system'), undefined);
  });

  it('admits by namespace (*, ., ~ or a name) and host (*, *.suffix or exact)', () => {
    const fqdn = (s: string, ns: string) => [`${s}.${ns}.svc.cluster.local`];
    assert.ok(egressAdmits(nsWide, 'shop', 'shop', fqdn('cart', 'shop')), "./* is the workload's namespace");
    assert.ok(egressAdmits(meshDefault, 'web', 'web', fqdn('front', 'web')), "in the mesh default too: each workload's own");
    assert.ok(!egressAdmits(meshDefault, 'web', 'shop', fqdn('cart', 'shop')));
    assert.ok(egressAdmits(nsWide, 'shop', 'payments', fqdn('pay', 'payments')));
    assert.ok(!egressAdmits(nsWide, 'shop', 'web', fqdn('front', 'web')));
    assert.ok(egressAdmits(ratings, 'shop', 'shop', fqdn('reviews', 'shop')));
    assert.ok(!egressAdmits(ratings, 'shop', 'shop', fqdn('cart', 'shop')));
    const external = sidecar('x', 'shop', { egress: [{ hosts: ['*/*.example.com'] }] });
    assert.ok(egressAdmits(external, 'shop', 'shop', ['api.example.com']));
    assert.ok(!egressAdmits(external, 'shop', 'shop', ['example.org']));
  });

  it('compiles a sidecar only the services its Sidecar admits, a gateway every one', () => {
    const services = new Map([
      ['shop/cart', [inst('cart', 'shop')]],
      ['payments/pay', [inst('pay', 'payments')]],
      ['web/front', [inst('front', 'web')]],
    ]);
    const c = new SnapshotCompiler({ resources: [meshDefault, nsWide], services, trustDomain: 'cluster.local', rootNamespace: 'istio-system', trustBundle: [] });
    const names = (s: { outbound: { services: { namespace: string; name: string }[] } }) => s.outbound.services.map((x) => `${x.namespace}/${x.name}`).sort();
    assert.deepEqual(names(c.compile({ id: 'cart-1', service: 'cart', namespace: 'shop' }).snapshot), ['payments/pay', 'shop/cart']);
    assert.deepEqual(names(c.compile({ id: 'front-1', service: 'front', namespace: 'web' }).snapshot), ['web/front'], 'the mesh default: its own namespace and istio-system');
    assert.deepEqual(names(c.compile({ id: 'gw-1', service: 'gw', namespace: 'shop', gateway: true }).snapshot), ['payments/pay', 'shop/cart', 'web/front']);
  });

  it("accepts Istio's documented forms and refuses what it does not implement, by name", () => {
    const doc = (spec: object) => ({ apiVersion: 'networking.istio.io/v1', kind: 'Sidecar', metadata: { name: 'default', namespace: 'istio-system' }, spec });
    assert.equal(validateResource(doc({ egress: [{ hosts: ['./*', 'istio-system/*'] }] })).kind, 'Sidecar');
    assert.equal(validateResource(doc({ workloadSelector: { labels: { app: 'ratings' } }, egress: [{ hosts: ['prod-us1/*', 'prod-apis/*', 'istio-system/*'] }] })).kind, 'Sidecar');
    assert.throws(() => validateResource(doc({ egress: [{ hosts: ['reviews'] }] })), /egress\[0\]\.hosts\[0\].*is not namespace\/host/);
    assert.throws(() => validateResource(doc({ ingress: [{ port: { number: 9080 } }] })), /ingress: not supported by this mesh/);
    assert.throws(() => validateResource(doc({ egress: [{ port: { number: 9080 }, hosts: ['./*'] }] })), /egress\[0\]\.port: not supported/);
  });
});
