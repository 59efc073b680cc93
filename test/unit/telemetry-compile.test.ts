import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Resource, TelemetrySpec } from '../../core/resources/types.js';
import { compileTelemetry } from '../../core/snapshot/compile-telemetry.js';
import { validateResource } from '../../core/resources/validate.js';

let clock = 0;
const tel = (name: string, namespace: string, spec: TelemetrySpec): Resource => ({
  apiVersion: 'telemetry.istio.io/v1',
  kind: 'Telemetry',
  metadata: { name, namespace, creationTimestamp: new Date(Date.UTC(2026, 0, 1, 0, 0, clock++)).toISOString() },
  spec,
});
const reviews = { namespace: 'default', labels: { app: 'reviews', version: 'v1' } };

describe('Telemetry for a workload', () => {
  const mesh = tel('mesh-default', 'istio-system', { accessLogging: [{ providers: [{ name: 'envoy' }] }], tracing: [{ randomSamplingPercentage: 10 }] });
  const ns = tel('ns', 'default', { accessLogging: [{ filter: { expression: 'response.code >= 400' } }] });
  const wl = tel('reviews', 'default', { selector: { matchLabels: { app: 'reviews' } }, accessLogging: [{ disabled: true, match: { mode: 'SERVER' } }] });

  it('takes each part from the most specific level that has it: workload, namespace, root namespace', () => {
    assert.deepEqual(compileTelemetry([mesh, ns, wl], reviews, 'istio-system'), {
      sources: ['default/reviews', 'istio-system/mesh-default'],
      accessLog: { server: { enabled: false } },
      tracing: { client: { disabled: false, samplingPercent: 10 }, server: { disabled: false, samplingPercent: 10 } },
    });
    assert.deepEqual(compileTelemetry([mesh, ns, wl], { namespace: 'default', labels: { app: 'ratings' } }, 'istio-system')?.accessLog, {
      client: { enabled: true, filter: 'response.code >= 400' },
      server: { enabled: true, filter: 'response.code >= 400' },
    });
    assert.deepEqual(compileTelemetry([mesh], { namespace: 'prod', labels: {} }, 'istio-system')?.accessLog, { client: { enabled: true }, server: { enabled: true } });
  });

  it('leaves the snapshot alone without Telemetry', () => {
    assert.equal(compileTelemetry([], reviews, 'istio-system'), undefined);
    assert.equal(compileTelemetry([tel('other', 'prod', { accessLogging: [{ disabled: true }] })], reviews, 'istio-system'), undefined);
  });

  it("accepts Istio's documented examples", () => {
    for (const spec of [
      { accessLogging: [{ providers: [{ name: 'envoy' }] }] },
      { accessLogging: [{ providers: [{ name: 'envoy' }], filter: { expression: 'response.code >= 400' } }] },
      { selector: { matchLabels: { app: 'reviews' } }, accessLogging: [{ disabled: true }] },
      { tracing: [{ randomSamplingPercentage: 100.0 }] },
      { metrics: [{ providers: [{ name: 'prometheus' }] }] },
    ]) {
      assert.equal(validateResource({ apiVersion: 'telemetry.istio.io/v1', kind: 'Telemetry', metadata: { name: 'x', namespace: 'istio-system' }, spec }).kind, 'Telemetry');
    }
  });
});
