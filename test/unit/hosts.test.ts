import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { hostAliases, serviceForHost } from '../../core/hosts.js';

describe('hosts name catalog services', () => {
  it('maps short names, Consul DNS names and Istio FQDNs to one service', () => {
    for (const h of [
      'reviews',
      'reviews.service.consul',
      'reviews.service.dc1.consul',
      'reviews.default',
      'reviews.default.svc',
      'reviews.default.svc.cluster.local',
      'Reviews.Default.svc.cluster.local.',
      'reviews:9080',
    ]) {
      assert.deepEqual(serviceForHost(h), { name: 'reviews', namespace: 'default' }, h);
    }
    assert.deepEqual(serviceForHost('ratings.prod.svc.cluster.local'), { name: 'ratings', namespace: 'prod' });
    assert.deepEqual(serviceForHost('reviews', 'prod'), { name: 'reviews', namespace: 'prod' });
  });

  it('leaves external hosts and wildcards outside the catalog', () => {
    for (const h of ['example.com', 'api.example.com', 'httpbin.org', '*.example.com', '*']) assert.equal(serviceForHost(h), undefined, h);
  });

  it('answers to its short name only for callers in its own namespace, as Kubernetes DNS resolves it for Istio', () => {
    assert.deepEqual(hostAliases({ name: 'httpbin', namespace: 'foo' }, 'foo'), ['httpbin', 'httpbin.service.consul', 'httpbin.foo', 'httpbin.foo.svc', 'httpbin.foo.svc.cluster.local']);
    assert.deepEqual(hostAliases({ name: 'httpbin', namespace: 'bar' }, 'foo'), ['httpbin.bar', 'httpbin.bar.svc', 'httpbin.bar.svc.cluster.local']);
  });
});
