// Local rate limiting on a real sidecar: a LocalRateLimit resource applied through the controller
// reaches the sidecar, which answers 429 once the bucket is empty (per route where the resource
// names routes), counts it in its metrics with the RL flag, and lets traffic through again when
// the resource goes.
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { Sidecar } from '../../proxy/sidecar.js';
import { get, startApp, type TestApp } from '../helpers/apps.js';
import { startController, type TestController } from '../helpers/controller.js';
import { waitFor } from '../helpers/ports.js';

const LIMIT = `apiVersion: policy.hostmesh.io/v1alpha1
kind: LocalRateLimit
metadata:
  name: reviews-limit
  namespace: default
spec:
  selector:
    matchLabels:
      app: reviews
  tokenBucket:
    maxTokens: 2
    tokensPerFill: 1
    fillInterval: 1h
`;

describe('local rate limit on the inbound side', () => {
  let c: TestController;
  let app: TestApp;
  let sidecar: Sidecar;
  const call = () => get(sidecar.ports.inbound, '/reviews/1', { host: 'reviews' });

  before(async () => {
    c = await startController();
    app = await startApp('reviews-v1');
    const token = (await c.call('POST', '/v1/tokens', { service: 'reviews' })).json().token;
    sidecar = new Sidecar(
      {
        controller: c.url,
        controllerCa: c.ca(),
        bootstrapToken: token,
        service: 'reviews',
        namespace: 'default',
        proxyId: 'reviews-1',
        trustDomain: 'cluster.local',
        dataDir: mkdtempSync(join(tmpdir(), 'mesh-rl-')),
        appHost: '127.0.0.1',
        appPort: app.port,
        bindHost: '127.0.0.1',
        inboundPort: 0,
        outboundPort: -1,
        adminPort: 0,
        upstreams: [],
        drainTimeoutMs: 500,
        telemetryIntervalMs: 10_000,
        headersTimeoutMs: 10_000,
        idleTimeoutMs: 60_000,
        accessLog: () => undefined,
      },
      pino({ level: 'silent' }),
    );
    await sidecar.start();
    await c.call('POST', '/v1/catalog/instances', {
      id: 'reviews-1',
      service: 'reviews',
      address: '127.0.0.1',
      port: app.port,
      protocol: 'http',
      labels: { version: 'v1' },
      sidecar: { inboundPort: sidecar.ports.inbound },
    });
  });

  after(async () => {
    await sidecar?.close();
    await app?.close();
    await c?.close();
  });

  it('answers 429 when the bucket is empty, flags it RL, and lets traffic through once the limit is gone', async () => {
    assert.equal((await c.call('POST', '/v1/apply', LIMIT)).status, 200);
    await waitFor('the limit to reach the sidecar', () => sidecar.snapshot?.inbound.rateLimit?.maxTokens === 2, 5000);
    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push((await call()).status);
    assert.deepEqual(statuses, [200, 200, 429, 429]);
    const limited = await call();
    assert.equal(limited.body, 'local_rate_limited\n');
    assert.equal(limited.headers['x-mesh-response-flags'], 'RL');
    const metrics = await (await fetch(`http://127.0.0.1:${sidecar.ports.admin}/stats/prometheus`)).text();
    assert.match(metrics, /istio_requests_total\{[^}]*response_code="429"[^}]*response_flags="RL"[^}]*\} 3/);
    assert.equal(app.hits, 2, 'refused requests never reach the application');

    assert.equal((await c.call('DELETE', '/v1/resources/localratelimit/default/reviews-limit')).status, 204);
    await waitFor('the limit to be lifted', () => sidecar.snapshot?.inbound.rateLimit === undefined, 5000);
    assert.equal((await call()).status, 200);
  });

  it('gives a route its own bucket, matched on the normalised path, and the rest the workload bucket', async () => {
    const perRoute = `${LIMIT.replace('maxTokens: 2', 'maxTokens: 100')}  routes:
  - name: expensive
    match:
    - uri:
        prefix: /reports
    tokenBucket:
      maxTokens: 1
      tokensPerFill: 1
      fillInterval: 1h
`;
    assert.equal((await c.call('POST', '/v1/apply', perRoute)).status, 200);
    await waitFor('the route limit at the sidecar', () => sidecar.snapshot?.inbound.rateLimit?.routes?.[0]?.name === 'expensive', 5000);
    const first = await get(sidecar.ports.inbound, '/reports/q3', { host: 'reviews' });
    assert.equal(first.status, 200);
    for (const sneaky of ['/reports/q4', '//reports/q4', '/%72eports/q4', '/x/../reports/q4']) {
      const r = await get(sidecar.ports.inbound, sneaky, { host: 'reviews' });
      assert.equal(r.status, 429, `${sneaky} takes from the /reports bucket`);
    }
    for (let i = 0; i < 5; i++) assert.equal((await call()).status, 200, 'other paths use the workload bucket (100 tokens)');
    assert.equal((await c.call('DELETE', '/v1/resources/localratelimit/default/reviews-limit')).status, 204);
    await waitFor('the limit to be lifted', () => sidecar.snapshot?.inbound.rateLimit === undefined, 5000);
  });

  it('refuses a malformed LocalRateLimit with every violation', async () => {
    const bad = await c.call(
      'POST',
      '/v1/apply',
      `${LIMIT.replace('maxTokens: 2', 'maxTokens: 0').replace('fillInterval: 1h', 'fillInterval: 10ms').replace('    tokensPerFill: 1\n', '    tokensPerFill: 1\n    burst: 3\n')}  routes:\n  - match: []\n    tokenBucket: { maxTokens: 1, tokensPerFill: 1 }\n`,
    );
    assert.equal(bad.status, 422);
    assert.deepEqual(
      bad.json().violations.map((v: { path: string; message: string }) => `${v.path}: ${v.message}`),
      [
        'spec.tokenBucket.maxTokens: must be at least 1, got 0',
        'spec.tokenBucket.burst: unknown field; supported fields here: maxTokens, tokensPerFill, fillInterval',
        'spec.tokenBucket.fillInterval: must be at least 50ms (as in Envoy), got 10ms',
        'spec.routes[0].match: must have at least 1 item',
        'spec.routes[0].tokenBucket.fillInterval: is required',
      ],
    );
  });
});
