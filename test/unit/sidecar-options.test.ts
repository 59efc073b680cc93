// The sidecar's options resolver: defaults filled in, every problem collected into one error that
// names its flag, durations written as in every other component. No sockets, no files.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { MeshError } from '../../core/errors.js';
import { resolveSidecarOptions, SIDECAR_DEFAULTS, type RawSidecarOptions } from '../../proxy/options.js';

const CA = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
const minimal: RawSidecarOptions = { service: 'reviews', appPort: 9080, controllerCa: CA, hostname: 'vm1' };

function problems(raw: RawSidecarOptions): string[] {
  try {
    resolveSidecarOptions(raw);
  } catch (err) {
    assert.ok(err instanceof MeshError);
    assert.equal(err.code, 'INVALID_ARGUMENT');
    return err.message
      .split('\n')
      .slice(1)
      .map((l) => l.trim());
  }
  assert.fail('expected the options to be refused');
}

describe('sidecar options', () => {
  it('fills in the defaults a person would otherwise write', () => {
    const o = resolveSidecarOptions(minimal, '::');
    assert.equal(o.proxyId, 'reviews-vm1');
    assert.equal(o.bindHost, '::');
    assert.equal(o.inboundPort, SIDECAR_DEFAULTS.inboundPort);
    assert.equal(o.adminBindHost, '127.0.0.1');
    assert.equal(o.drainTimeoutMs, 20_000);
    assert.equal(o.headersTimeoutMs, 10_000);
    assert.equal(o.idleTimeoutMs, 60_000);
    assert.equal(o.protocolDetectionTimeoutMs, 1000);
    assert.equal(o.telemetryIntervalMs, 10_000);
    assert.equal(o.http1Relay, true);
    assert.equal(o.h2Relay, true);
    assert.equal(o.outboundTrafficPolicy, 'ALLOW_ANY');
    assert.equal(o.tracing, undefined);
  });

  it('reads durations as the controller and the agent do: "500ms", "1.5s", "2m"', () => {
    const o = resolveSidecarOptions({ ...minimal, drainTimeout: '1.5s', headersTimeout: '500ms', idleTimeout: '2m', protocolDetectionTimeout: '300ms' });
    assert.deepEqual([o.drainTimeoutMs, o.headersTimeoutMs, o.idleTimeoutMs, o.protocolDetectionTimeoutMs], [1500, 500, 120_000, 300]);
  });

  it('refuses a bare number and says how to write it', () => {
    assert.deepEqual(problems({ ...minimal, drainTimeout: '20' }), [
      '--drain-timeout: "20" is not a duration; write a number with a unit: ns, us, ms, s, m or h (e.g. "1.5s") (durations carry their unit: "20s" for seconds)',
    ]);
  });

  it('collects every problem at once, each naming its flag', () => {
    const found = problems({
      service: 'Reviews',
      controllerCa: 'not a certificate',
      controller: 'http://controller:15012',
      inboundPort: 70000,
      outboundPort: -2,
      statusPort: -1,
      upstreams: ['ratings=9080', 'ratings'],
      idleTimeout: 'soon',
      certRenewAt: 1,
      traceSampling: 101,
      otlpEndpoint: 'collector:4318',
      outboundTrafficPolicy: 'DENY',
    });
    const flags = found.map((p) => p.slice(0, p.indexOf(':')));
    assert.deepEqual(flags.sort(), [
      '--app-port',
      '--ca-file',
      '--cert-renew-at',
      '--controller',
      '--idle-timeout',
      '--inbound-port',
      '--otlp-endpoint',
      '--outbound-port',
      '--outbound-traffic-policy',
      '--service',
      '--trace-sampling',
      '--upstream',
    ]);
  });

  it('turns on tracing only with an endpoint, at the sampling asked for', () => {
    const o = resolveSidecarOptions({ ...minimal, otlpEndpoint: 'http://otel:4318/v1/traces', traceSampling: 25 });
    assert.deepEqual(o.tracing, { endpoint: 'http://otel:4318/v1/traces', samplingPercent: 25 });
  });

  it('resolves or refuses any duration text, never anything else (property)', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.stringMatching(/^\d{1,4}(\.\d{1,2})?(ns|us|ms|s|m|h)?$/)), (text) => {
        try {
          const o = resolveSidecarOptions({ ...minimal, idleTimeout: text });
          assert.ok(Number.isFinite(o.idleTimeoutMs) && o.idleTimeoutMs >= 1);
        } catch (err) {
          assert.ok(err instanceof MeshError, String(err));
          assert.match(err.message, /--idle-timeout: /);
        }
      }),
      { numRuns: Number(process.env.FUZZ_RUNS ?? 500) },
    );
  });

  it('reads upstream listeners and refuses any other shape (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.string(), { maxLength: 4 }), (list) => {
        try {
          const o = resolveSidecarOptions({ ...minimal, upstreams: list });
          assert.equal(o.upstreams.length, list.length);
          for (const u of o.upstreams) assert.ok(u.port >= 0 && u.port <= 65535 && /^[a-z0-9]/.test(u.service));
        } catch (err) {
          assert.ok(err instanceof MeshError, String(err));
          assert.match(err.message, /--upstream: /);
        }
      }),
      { numRuns: Number(process.env.FUZZ_RUNS ?? 500) },
    );
  });
});
