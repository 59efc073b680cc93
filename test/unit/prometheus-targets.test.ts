import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ServiceInstance } from '../../core/catalog-model.js';
import { prometheusTargets } from '../../core/prometheus-targets.js';

const inst = (id: string, address: string, labels: Record<string, string>, statusPort?: number): ServiceInstance => ({
  id,
  service: 'reviews',
  namespace: 'default',
  address,
  port: 9080,
  labels,
  healthy: true,
  ...(statusPort === undefined ? {} : { sidecar: { inboundPort: 15006, statusPort } }),
});

describe('prometheusTargets (Prometheus HTTP service discovery)', () => {
  it("lists each sidecar's status port with Istio's metrics path and the instance's labels; instances without one are left out", () => {
    const groups = prometheusTargets(new Map([['default/reviews', [inst('r-2', 'fd00::7', {}, 15020), inst('r-1', '10.0.0.5', { version: 'v1' }, 15020), inst('legacy', '10.0.0.6', {})]]]));
    assert.deepEqual(groups, [
      {
        targets: ['10.0.0.5:15020'],
        labels: { __metrics_path__: '/stats/prometheus', namespace: 'default', service: 'reviews', app: 'reviews', workload: 'reviews-v1', instance_id: 'r-1', version: 'v1' },
      },
      { targets: ['[fd00::7]:15020'], labels: { __metrics_path__: '/stats/prometheus', namespace: 'default', service: 'reviews', app: 'reviews', workload: 'reviews', instance_id: 'r-2' } },
    ]);
  });
});
