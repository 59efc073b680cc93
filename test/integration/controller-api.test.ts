// The controller's REST API on the embedded default, over real TLS.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer as createHttpsServer, request as httpsRequest } from 'node:https';
import type { AddressInfo } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { after, before, describe, it } from 'node:test';
import { certificateInfo } from '../../core/pki/x509.js';
import { FrameDecoder, type StreamFrame } from '../../core/snapshot/stream-frames.js';
import { ControllerClient } from '../../proxy/controller-client.js';
import { SnapshotSource } from '../../proxy/snapshot-source.js';
import { emptyBuckets, bucketIndex } from '../../core/telemetry.js';
import { startController, type TestController } from '../helpers/controller.js';
import { waitFor } from '../helpers/ports.js';
import { workloadCsr } from '../helpers/workload.js';

const VS = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: reviews
spec:
  hosts: [reviews]
  http:
  - route:
    - destination: {host: reviews, subset: v1}
      weight: 90
    - destination: {host: reviews, subset: v2}
      weight: 10
`;

describe('controller API (embedded catalog, file store)', () => {
  let c: TestController;
  before(async () => {
    c = await startController({ trustDomain: 'mesh.test', bodyLimit: 64 * 1024 });
  });
  after(() => c.close());

  /** A workload certificate of `service` in `namespace`, from a bootstrap token, as a sidecar gets one. */
  const workloadCredentials = async (service: string, namespace: string): Promise<{ cert: string; key: string }> => {
    const { key, csr } = workloadCsr();
    const token = (await c.call('POST', '/v1/tokens', { service, namespace })).json().token as string;
    return { cert: (await c.call('POST', '/v1/ca/sign', { csr }, { token })).json().certificate as string, key: key.privateKeyPem };
  };

  it('answers health and CA roots without credentials, everything else only with them', async () => {
    assert.equal((await c.call('GET', '/healthz', undefined, null)).json().status, 'ok');
    assert.equal((await c.call('GET', '/v1/ca/roots', undefined, null)).json().roots.length, 1);
    const anon = await c.call('GET', '/v1/resources', undefined, null);
    assert.equal(anon.status, 401);
    assert.equal(anon.json().code, 'UNAUTHENTICATED');
    assert.equal((await c.call('GET', '/v1/resources', undefined, { token: 'mat1.wrong' })).status, 401);
    assert.equal((await c.call('GET', '/v1/resources')).status, 200);
  });

  it('keeps the admin token private to its owner', () => {
    assert.equal(statSync(join(c.dataDir, 'admin-token')).mode & 0o777, 0o600);
  });

  it('applies, gets, updates with optimistic concurrency, and deletes a resource', async () => {
    const applied = await c.call('POST', '/v1/apply', VS);
    assert.equal(applied.status, 200);
    assert.equal(applied.json().results[0].action, 'created');
    assert.equal((await c.call('POST', '/v1/apply', VS)).json().results[0].action, 'unchanged');
    const got = (await c.call('GET', '/v1/resources/vs/default/reviews')).json();
    assert.equal(got.kind, 'VirtualService');
    const version = got.metadata.resourceVersion;
    const changed = { ...got, spec: { ...got.spec, http: [{ route: [{ destination: { host: 'reviews', subset: 'v2' } }] }] } };
    const put = await c.call('PUT', '/v1/resources/VirtualService/default/reviews', changed);
    assert.equal(put.status, 200);
    const stale = await c.call('PUT', '/v1/resources/VirtualService/default/reviews', changed);
    assert.equal(stale.status, 409, 'a write carrying an old resourceVersion is refused');
    assert.equal(stale.json().code, 'CONFLICT');
    assert.equal((await c.call('POST', '/v1/resources/virtualservices', VS)).status, 409, 'create of an existing name');
    assert.notEqual(put.json().metadata.resourceVersion, version);
    assert.equal((await c.call('DELETE', '/v1/resources/vs/default/reviews')).status, 204);
    assert.equal((await c.call('GET', '/v1/resources/vs/default/reviews')).status, 404);
  });

  it('refuses an invalid document with every violation and applies nothing of the batch', async () => {
    const good = VS.replace('name: reviews', 'name: good');
    const bad = VS.replace('weight: 10', 'weight: 20').replace('subset: v1', 'subset: V1!');
    const r = await c.call('POST', '/v1/apply', `${good}---\n${bad}`);
    assert.equal(r.status, 422);
    const body = r.json();
    assert.equal(body.code, 'VALIDATION_FAILED');
    assert.deepEqual(body.violations.map((v: { path: string }) => v.path).sort(), ['spec.http[0].route', 'spec.http[0].route[0].destination.subset']);
    assert.match(body.violations[0].document, /document 2 \(line \d+\)/);
    assert.equal((await c.call('GET', '/v1/resources/vs/default/good')).status, 404, 'the valid document of the batch was not applied');
  });

  it('answers malformed input, unknown kinds and oversized bodies with clear errors and no change', async () => {
    const before = (await c.call('GET', '/v1/resources')).json().items.length;
    const syntax = await c.call('POST', '/v1/apply', 'kind: VirtualService\nspec: [unclosed\n');
    assert.equal(syntax.status, 400);
    assert.match(syntax.json().message, /line \d+/);
    const unknown = await c.call('POST', '/v1/apply', 'apiVersion: networking.istio.io/v1\nkind: EnvoyFilter\nmetadata: {name: g}\nspec: {}\n');
    assert.equal(unknown.status, 400);
    assert.equal(unknown.json().code, 'UNKNOWN_KIND');
    const big = await c.call('POST', '/v1/apply', 'x'.repeat(70 * 1024));
    assert.equal(big.status, 413);
    assert.equal(big.json().code, 'PAYLOAD_TOO_LARGE');
    const badJson = await c.call('POST', '/v1/tokens', '{"service":', { token: c.adminToken });
    assert.equal(badJson.status, 400);
    assert.equal((await c.call('GET', '/v1/resources')).json().items.length, before);
  });

  it('refuses a YAML alias bomb with a sentence, not a 500', async () => {
    // "Billion laughs": each line doubles what the one before stands for.
    let bomb = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n';
    for (let i = 0; i < 9; i++)
      bomb += `${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [${Array(9)
        .fill(`*${String.fromCharCode(97 + i)}`)
        .join(',')}]\n`;
    const r = await c.call('POST', '/v1/apply', bomb);
    assert.equal(r.status, 400);
    assert.equal(r.json().code, 'PARSE_ERROR');
    assert.match(r.json().message, /alias/i);
  });

  it('answers an oversized upload with 413 and Connection: close, then closes without a reset', async () => {
    const url = new URL(c.url);
    const outcome = await new Promise<{ head: string; ended: boolean; error?: string }>((resolve) => {
      const socket = tlsConnect({ host: url.hostname, port: Number(url.port), ca: c.ca() });
      let text = '';
      let error: string | undefined;
      socket.on('data', (d: Buffer) => (text += d.toString('latin1')));
      socket.on('error', (e: NodeJS.ErrnoException) => (error = e.code ?? e.message));
      socket.on('end', () => resolve({ head: text, ended: true, error }));
      socket.on('close', () => resolve({ head: text, ended: false, error }));
      socket.once('secureConnect', async () => {
        const body = 1024 * 1024;
        socket.write(`POST /v1/apply HTTP/1.1\r\nHost: controller\r\nAuthorization: Bearer ${c.adminToken}\r\nContent-Type: application/yaml\r\nContent-Length: ${body}\r\n\r\n`);
        // The whole body, as a client that does not read before it has sent does.
        for (let sent = 0; sent < body && !socket.destroyed; sent += 16 * 1024) {
          if (!socket.write(Buffer.alloc(16 * 1024, 0x78))) await new Promise((r) => socket.once('drain', r));
        }
      });
    });
    assert.match(outcome.head, /^HTTP\/1\.1 413 /);
    assert.match(outcome.head, /\r\nconnection: close\r\n/i);
    assert.equal(outcome.error, undefined, 'no reset');
    assert.ok(outcome.ended, 'the controller ended the connection cleanly');
  });

  it('signs a CSR for the service a bootstrap token names, and refuses any other identity', async () => {
    const token = (await c.call('POST', '/v1/tokens', { service: 'reviews', ttl: '10m' })).json().token as string;
    const { csr, key } = workloadCsr();
    const signed = await c.call('POST', '/v1/ca/sign', { csr }, { token });
    assert.equal(signed.status, 200, signed.text);
    const { certificate, identity } = signed.json();
    assert.equal(identity, 'spiffe://mesh.test/ns/default/sa/reviews');
    const dir = mkdtempSync(join(tmpdir(), 'mesh-sign-'));
    writeFileSync(join(dir, 'roots.pem'), c.ca());
    writeFileSync(join(dir, 'leaf.pem'), certificate);
    assert.match(execFileSync('openssl', ['verify', '-CAfile', join(dir, 'roots.pem'), join(dir, 'leaf.pem')], { encoding: 'utf8' }), /OK/);
    const lifetime = certificateInfo(certificate).notAfter.getTime() - Date.now();
    assert.ok(lifetime > 23.9 * 3600_000 && lifetime <= 24 * 3600_000, 'default lifetime is 24 h');

    const other = workloadCsr(['spiffe://mesh.test/ns/default/sa/ratings']);
    const refused = await c.call('POST', '/v1/ca/sign', { csr: other.csr }, { token });
    assert.equal(refused.status, 403);
    assert.match(refused.json().message, /sa\/ratings.*sa\/reviews/);

    // Renewal: the current certificate over mTLS is the credential; no token.
    const renewal = workloadCsr();
    const renewed = await c.call('POST', '/v1/ca/sign', { csr: renewal.csr }, { cert: certificate, key: key.privateKeyPem });
    assert.equal(renewed.status, 200, renewed.text);
    assert.deepEqual(certificateInfo(renewed.json().certificate).uris, ['spiffe://mesh.test/ns/default/sa/reviews']);

    const forged = await c.call('POST', '/v1/ca/sign', { csr }, { token: token.slice(0, -3) + 'AAA' });
    assert.equal(forged.status, 401);
    const expiredToken = (await c.call('POST', '/v1/tokens', { service: 'reviews', ttl: '1ms' })).json().token;
    await new Promise((r) => setTimeout(r, 1100));
    const expired = await c.call('POST', '/v1/ca/sign', { csr }, { token: expiredToken });
    assert.equal(expired.status, 401);
    assert.match(expired.json().message, /expired/);
    const garbage = await c.call('POST', '/v1/ca/sign', { csr: '-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----' }, { token });
    assert.equal(garbage.status, 400);
  });

  it('serves a proxy its snapshot and answers its watch as soon as the snapshot changes', async () => {
    await c.call('POST', '/v1/catalog/instances', { id: 'reviews-v1-1', service: 'reviews', address: '127.0.0.1', port: 9080, labels: { version: 'v1' }, sidecar: { inboundPort: 15006 } });
    const first = await c.call('GET', '/v1/snapshots?proxy=productpage-1&service=productpage');
    assert.equal(first.status, 200);
    const snap = first.json();
    assert.equal(snap.proxy.identity, 'spiffe://mesh.test/ns/default/sa/productpage');
    assert.ok(snap.outbound.services.some((s: { name: string }) => s.name === 'reviews'));

    const unchanged = await c.call('GET', `/v1/snapshots?proxy=productpage-1&service=productpage&version=${snap.version}&wait=200ms`);
    assert.equal(unchanged.status, 304);

    const started = Date.now();
    const watch = c.call('GET', `/v1/snapshots?proxy=productpage-1&service=productpage&version=${snap.version}&wait=30s`);
    await new Promise((r) => setTimeout(r, 100));
    await c.call('POST', '/v1/apply', VS);
    const changed = await watch;
    assert.equal(changed.status, 200);
    assert.ok(Date.now() - started < 5000, 'the watch answered on change, not at its timeout');
    const routes = changed.json().outbound.services.find((s: { name: string }) => s.name === 'reviews').httpRoutes;
    assert.deepEqual(
      routes[0].action.destinations.map((d: { weight: number }) => d.weight),
      [90, 10],
    );
    assert.ok((await c.call('GET', '/v1/proxies')).json().proxies.some((p: { id: string }) => p.id === 'productpage-1'));
  });

  it('sends the snapshot gzipped to a proxy that accepts gzip, byte for byte the same JSON', async () => {
    const plain = await c.call('GET', '/v1/snapshots?proxy=productpage-1&service=productpage');
    const gz = await new Promise<{ encoding: string | undefined; body: Buffer }>((resolve, reject) => {
      const req = httpsRequest(
        `${c.url}/v1/snapshots?proxy=productpage-1&service=productpage`,
        { ca: c.ca(), headers: { authorization: `Bearer ${c.adminToken}`, 'accept-encoding': 'gzip' } },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (d: Buffer) => chunks.push(d));
          res.on('end', () => resolve({ encoding: res.headers['content-encoding'], body: Buffer.concat(chunks) }));
        },
      );
      req.on('error', reject);
      req.end();
    });
    assert.equal(gz.encoding, 'gzip');
    assert.ok(gz.body.length < Buffer.byteLength(plain.text));
    assert.equal(gunzipSync(gz.body).toString(), plain.text);
  });

  it('sends a watching proxy that accepts deltas only the services that changed since the version it holds, and the whole snapshot when it holds another', async () => {
    for (let i = 0; i < 30; i++) await c.call('POST', '/v1/catalog/instances', { id: `filler-${i}-1`, service: `filler-${i}`, address: '127.0.0.1', port: 9080, sidecar: { inboundPort: 15006 } });
    const watchPath = (version: string, delta = true) => `/v1/snapshots?proxy=delta-1&service=productpage&version=${version}&wait=10s${delta ? '&delta=1' : ''}`;
    const whole = await c.call('GET', '/v1/snapshots?proxy=delta-1&service=productpage');
    assert.equal(whole.headers['x-mesh-snapshot'], 'full');
    const held = whole.json();
    const watch = c.call('GET', watchPath(held.version));
    await new Promise((r) => setTimeout(r, 100));
    await c.call('POST', '/v1/catalog/instances', { id: 'filler-7-2', service: 'filler-7', address: '127.0.0.2', port: 9080, sidecar: { inboundPort: 15006 } });
    const changed = await watch;
    assert.equal(changed.status, 200);
    assert.equal(changed.headers['x-mesh-snapshot'], 'delta');
    const { delta } = changed.json().outbound;
    assert.equal(delta.base, held.version);
    assert.deepEqual(
      delta.upsert.map((s: { name: string }) => s.name),
      ['filler-7'],
    );
    assert.deepEqual(delta.remove, []);
    assert.equal(delta.order, undefined);
    assert.ok(changed.text.length < whole.text.length / 5, `a delta of ${changed.text.length} bytes against ${whole.text.length} whole`);
    // A proxy that still holds the version from before the change (it lost the answer, or watched
    // another controller, which compiles the same snapshot from the same inputs) gets a delta
    // against it; one that names a version this controller never compiled gets it whole.
    const behind = await c.call('GET', watchPath(held.version));
    assert.equal(behind.headers['x-mesh-snapshot'], 'delta');
    assert.equal(behind.json().outbound.delta.base, held.version);
    const unknownBase = await c.call('GET', watchPath('0123456789abcdef'));
    assert.equal(unknownBase.headers['x-mesh-snapshot'], 'full');
    assert.ok(Array.isArray(unknownBase.json().outbound.services));
    // Without delta=1 (an older sidecar), always whole.
    const current = unknownBase.json().version;
    const older = c.call('GET', watchPath(current, false));
    await new Promise((r) => setTimeout(r, 100));
    await c.call('DELETE', '/v1/catalog/instances/filler-7-2');
    assert.equal((await older).headers['x-mesh-snapshot'], 'full');
  });

  it('streams snapshots: the current one at once, each change as a delta against the last, heartbeats, acknowledgements, an end after `wait`', async () => {
    const client = new ControllerClient(c.url, c.ca(), { token: c.adminToken });
    const read = (f: StreamFrame | undefined) => {
      assert.equal(f?.type, 'snapshot');
      const s = f as Extract<StreamFrame, { type: 'snapshot' }>;
      assert.ok(s.gzip, 'compressed, as asked');
      return { ...s, json: JSON.parse(gunzipSync(s.body).toString()) };
    };
    try {
      const stream = await client.openStream('/v1/snapshots/stream?proxy=stream-1&service=productpage&heartbeat=1s&wait=4s', { heartbeatTimeoutMs: 3000 });
      const frames = stream.frames();
      const opened = Date.now();
      const first = read((await frames.next()).value);
      assert.equal(first.delta, false);
      assert.equal(first.json.version, first.version);
      const status = async () => ((await c.call('GET', '/v1/proxies')).json().proxies as { id: string; status: string }[]).find((p) => p.id === 'stream-1')?.status;
      assert.equal(await status(), 'STALE', 'sent, not yet acknowledged');
      stream.ack(first.version);
      await waitFor('the acknowledgement', async () => (await status()) === 'SYNCED', 3000);
      // Nothing changes: a heartbeat keeps the stream alive.
      assert.deepEqual((await frames.next()).value, { type: 'heartbeat' });
      await c.call('POST', '/v1/catalog/instances', { id: 'streamed-1', service: 'streamed', address: '127.0.0.3', port: 9080, sidecar: { inboundPort: 15006 } });
      let next = (await frames.next()).value;
      while (next?.type === 'heartbeat') next = (await frames.next()).value;
      const change = read(next);
      assert.equal(change.delta, true);
      assert.equal(change.json.outbound.delta.base, first.version);
      assert.deepEqual(
        change.json.outbound.delta.upsert.map((s: { name: string }) => s.name),
        ['streamed'],
      );
      // After `wait`, the controller ends the stream between frames; the proxy opens the next one.
      for (let f = await frames.next(); !f.done; f = await frames.next()) assert.equal(f.value.type, 'heartbeat');
      assert.ok(Date.now() - opened >= 3000, 'ended at about `wait` (up to a fifth earlier)');
      stream.close();

      // The next stream names what the proxy holds: nothing is sent until it changes.
      const quiet = await client.openStream(`/v1/snapshots/stream?proxy=stream-1&service=productpage&version=${change.version}&delta=1&heartbeat=1s&wait=2s`, { heartbeatTimeoutMs: 3000 });
      const types: string[] = [];
      for await (const f of quiet.frames()) types.push(f.type);
      assert.ok(types.length > 0 && types.every((t) => t === 'heartbeat'), types.join());
    } finally {
      client.close();
    }
  });

  it('sends no heartbeats on a stream that carries snapshots: frames keep it alive', async () => {
    const client = new ControllerClient(c.url, c.ca(), { token: c.adminToken });
    try {
      const stream = await client.openStream('/v1/snapshots/stream?proxy=busy-1&service=productpage&heartbeat=1s&wait=8s', { heartbeatTimeoutMs: 3000 });
      const counts = { snapshot: 0, heartbeat: 0 };
      const reading = (async () => {
        for await (const f of stream.frames()) counts[f.type]++;
      })();
      // A change every 400 ms for 3 s (each a snapshot frame), then nothing until the stream ends (at 6.4-8 s).
      for (let i = 0; i < 8; i++) {
        await c.call('POST', '/v1/catalog/instances', { id: `busy-${i}`, service: 'busy', address: `127.0.0.${10 + i}`, port: 9080, sidecar: { inboundPort: 15006 } });
        await new Promise((r) => setTimeout(r, 400));
      }
      const duringChanges = { ...counts };
      await reading;
      stream.close();
      assert.ok(duringChanges.snapshot >= 6, `snapshots while changing: ${duringChanges.snapshot}`);
      // Without frames for an interval, each tick is one (the three ticks of the changes would be three).
      assert.ok(duringChanges.heartbeat <= 1, `heartbeats while snapshots flowed: ${duringChanges.heartbeat}`);
      assert.ok(counts.heartbeat > duringChanges.heartbeat, 'heartbeats again once the changes stop');
    } finally {
      client.close();
    }
  });

  it('has a sidecar long-poll a controller without the snapshot stream (an older one, mid-upgrade)', async () => {
    // The older controller: this one behind a TLS forwarder (its own kind of serving certificate)
    // that answers the stream's path as a controller without it does.
    const asked: string[] = [];
    const older = createHttpsServer(c.controller['servingCertificate'](), (req, res) => {
      asked.push(`${req.method} ${req.url!.split('?')[0]}`);
      if (req.url!.startsWith('/v1/snapshots/stream')) {
        res.writeHead(404, { 'content-type': 'application/json' });
        return void res.end(JSON.stringify({ code: 'NOT_FOUND', message: 'no API at /v1/snapshots/stream; see docs/openapi.yaml' }));
      }
      const upstream = httpsRequest(`${c.url}${req.url}`, { method: req.method, headers: req.headers, ca: c.ca() }, (answer) => {
        res.writeHead(answer.statusCode!, answer.headers);
        answer.pipe(res);
      });
      // The sidecar going away mid-poll, at the end, takes the forwarded poll with it.
      upstream.on('error', () => res.destroy());
      res.on('close', () => upstream.destroy());
      req.pipe(upstream);
    });
    await new Promise<void>((r) => older.listen(0, '127.0.0.1', r));
    const client = new ControllerClient(`https://127.0.0.1:${(older.address() as AddressInfo).port}`, c.ca(), { token: c.adminToken });
    const applied: string[] = [];
    const dataDir = mkdtempSync(join(tmpdir(), 'mesh-older-'));
    const source = new SnapshotSource(
      client,
      { dataDir, proxyId: 'older-1', service: 'productpage', namespace: 'default', waitSeconds: 5, heartbeatSeconds: 1, backoffMinMs: 50, backoffMaxMs: 500 },
      (s) => void applied.push(s.version),
    );
    try {
      await source.start();
      await c.call('POST', '/v1/catalog/instances', { id: 'older-upstream-1', service: 'older-upstream', address: '127.0.0.4', port: 9080, sidecar: { inboundPort: 15006 } });
      await waitFor('the change, by long poll', () => source.snapshot?.outbound.services.some((s) => s.name === 'older-upstream') ?? false, 5000);
      assert.ok(applied.length >= 2);
      assert.equal(asked.filter((a) => a === 'POST /v1/snapshots/stream').length, 1, 'the stream was asked for once');
      assert.ok(asked.filter((a) => a === 'GET /v1/snapshots').length >= 2, asked.join());
    } finally {
      source.close();
      client.close();
      older.closeAllConnections();
      older.close();
    }
  });

  it('refuses a new snapshot stream 503 once its snapshots are draining, so that the sidecar asks its next controller', async () => {
    // The moment of a drain when the listener is not closed yet (or a connection kept alive
    // from before it carries the request): the hub drains first, the server still answers.
    const d = await startController({ trustDomain: 'mesh.test' });
    const client = new ControllerClient(d.url, d.ca(), { token: d.adminToken });
    try {
      const before = await client.openStream('/v1/snapshots/stream?proxy=draining-1&service=productpage&wait=2s', { heartbeatTimeoutMs: 3000 });
      const ended = (async () => {
        for await (const frame of before.frames()) void frame;
      })();
      (d.controller as unknown as { hub: { drain(): void } }).hub.drain();
      await ended; // an open stream ends at once: its proxy goes elsewhere
      const refused = await d.call('POST', '/v1/snapshots/stream?proxy=draining-2&service=productpage');
      assert.equal(refused.status, 503);
      assert.equal(refused.json().code, 'UNAVAILABLE');
      assert.match(refused.json().message, /draining; ask the next one/);
      await assert.rejects(
        client.openStream('/v1/snapshots/stream?proxy=draining-3&service=productpage', { heartbeatTimeoutMs: 3000 }),
        (err: Error & { code?: string }) => err.code === 'UNAVAILABLE',
      );
    } finally {
      client.close();
      await d.close();
    }
  });

  it('ends a snapshot stream whose body is not acknowledgements, and refuses a stream to a proxy that is not its caller', async () => {
    const outcome = await new Promise<{ frames: number; closed: boolean }>((resolve, reject) => {
      const req = httpsRequest(`${c.url}/v1/snapshots/stream?proxy=stream-2&service=productpage`, { method: 'POST', ca: c.ca(), headers: { authorization: `Bearer ${c.adminToken}` } }, (res) => {
        const decoder = new FrameDecoder();
        let frames = 0;
        res.on('data', (d: Buffer) => {
          frames += decoder.push(d).length;
          if (frames === 1) req.write('nack 0123\n');
        });
        res.on('error', () => undefined);
        res.on('close', () => resolve({ frames, closed: true }));
      });
      req.on('error', () => undefined);
      req.on('close', () => setTimeout(() => reject(new Error('the request closed first')), 1000).unref());
      req.flushHeaders();
    });
    assert.deepEqual(outcome, { frames: 1, closed: true });
    const refused = await c.call('POST', '/v1/snapshots/stream?proxy=p-1&service=productpage&namespace=default', undefined, await workloadCredentials('reviews', 'shop'));
    assert.equal(refused.status, 403);
    assert.match(refused.json().message, /may read snapshots of namespace shop only/);
  });

  it("keeps a proxy's snapshot its own when another workload of its namespace reads its id under another identity and labels", async () => {
    const workload = (service: string) => workloadCredentials(service, 'vault');
    await c.call('POST', '/v1/apply', {
      apiVersion: 'security.istio.io/v1',
      kind: 'AuthorizationPolicy',
      metadata: { name: 'secrets-deny-delete', namespace: 'vault' },
      spec: { selector: { matchLabels: { tier: 'vault' } }, action: 'DENY', rules: [{ to: [{ operation: { methods: ['DELETE'] } }] }] },
    });
    const victim = new ControllerClient(c.url, c.ca(), await workload('secrets'));
    const intruder = await workload('ratings');
    const stream = await victim.openStream('/v1/snapshots/stream?proxy=secrets-1&service=secrets&namespace=vault&label=tier%3Dvault&heartbeat=1s&wait=10s', { heartbeatTimeoutMs: 3000 });
    const frames = stream.frames();
    const nextSnapshot = async () => {
      for (;;) {
        const f = (await frames.next()).value;
        if (f?.type === 'snapshot') return JSON.parse(gunzipSync(f.body).toString()) as { version: string; proxy: { identity: string }; inbound: { authorization: { deny: { name: string }[] } } };
        assert.equal(f?.type, 'heartbeat', 'the stream stays open');
      }
    };
    const guarded = (s: Awaited<ReturnType<typeof nextSnapshot>>) => ({ identity: s.proxy.identity, deny: s.inbound.authorization.deny.map((p) => p.name) });
    const expected = { identity: 'spiffe://mesh.test/ns/vault/sa/secrets', deny: ['vault/secrets-deny-delete'] };
    try {
      const first = await nextSnapshot();
      assert.deepEqual(guarded(first), expected);
      stream.ack(first.version);
      // Another workload of the namespace names the proxy's id, with other labels and under its own identity.
      const read = await c.call('GET', '/v1/snapshots?proxy=secrets-1&service=secrets&namespace=vault&label=tier%3Dweb', undefined, intruder);
      assert.equal(read.status, 200);
      assert.deepEqual(guarded(read.json()), { identity: 'spiffe://mesh.test/ns/vault/sa/ratings', deny: [] }, 'it is answered as what it is');
      // Any change: the proxy is sent its own snapshot, not one compiled for the intruder.
      await c.call('POST', '/v1/catalog/instances', { id: 'vault-change-1', service: 'vault-change', address: '127.0.0.9', port: 9080 });
      assert.deepEqual(guarded(await nextSnapshot()), expected);
      const listed = ((await c.call('GET', '/v1/proxies')).json().proxies as { id: string; status: string }[]).filter((p) => p.id === 'secrets-1');
      assert.equal(listed.length, 1, 'operators see the proxy once');
    } finally {
      stream.close();
      await c.call('DELETE', '/v1/catalog/instances/vault-change-1');
    }
  });

  it('keeps at most 1,000 snapshots a workload read under new proxy ids and left', async () => {
    const flood = await workloadCredentials('flood', 'flooding');
    const reads = 1010;
    for (let next = 0; next < reads;) {
      const batch = Array.from({ length: Math.min(16, reads - next) }, (_, i) => next + i);
      next += batch.length;
      const statuses = await Promise.all(batch.map(async (i) => (await c.call('GET', `/v1/snapshots?proxy=flood-${i}&service=flood&namespace=flooding`, undefined, flood)).status));
      assert.ok(statuses.every((s) => s === 200));
    }
    const kept = ((await c.call('GET', '/v1/proxies')).json().proxies as { id: string }[]).filter((p) => p.id.startsWith('flood-')).map((p) => p.id);
    assert.equal(kept.length, 1000, 'the cap holds');
    assert.ok(!kept.includes('flood-0') && kept.includes(`flood-${reads - 1}`), 'the ones read longest ago went first');
  });

  it("keeps a workload's state reports within 64 bodies' worth, dropping its own oldest, never another identity's", async () => {
    // About 60 KB of JSON, under this controller's 64 KiB body limit; the budget is 64 bodies of the limit.
    const dump = (proxy: string) => ({
      proxy,
      version: 'v1',
      collectedAt: new Date().toISOString(),
      listeners: [],
      routes: [],
      clusters: Array.from({ length: 300 }, (_, i) => ({
        name: `outbound|9080||s-${i}.reports.svc.cluster.local`,
        fqdn: `s-${i}.reports.svc.cluster.local`,
        port: '9080',
        subset: '',
        direction: 'outbound',
        tls: 'ISTIO_MUTUAL',
        lb: 'LEAST_REQUEST',
        endpoints: 1,
      })),
      endpoints: [],
      secrets: [],
    });
    const report = async (id: string, service: string, namespace: string, as: { cert: string; key: string }) => {
      assert.equal((await c.call('GET', `/v1/snapshots?proxy=${id}&service=${service}&namespace=${namespace}`, undefined, as)).status, 200);
      assert.equal((await c.call('PUT', `/v1/proxies/${id}/config-dump`, dump(id), as)).status, 204);
    };
    const honest = await workloadCredentials('ledger', 'reports');
    await report('ledger-1', 'ledger', 'reports', honest);
    const flood = await workloadCredentials('noisy', 'reports');
    const ids = Array.from({ length: 80 }, (_, i) => `noisy-${i}`);
    for (const id of ids) await report(id, 'noisy', 'reports', flood);
    const held = await Promise.all(ids.map(async (id) => (await c.call('GET', `/v1/proxies/${id}/config-dump`)).status));
    const kept = ids.filter((_, i) => held[i] === 200);
    const fits = Math.floor((64 * 64 * 1024) / Buffer.byteLength(JSON.stringify(dump('noisy-10'))));
    assert.ok(fits < ids.length && Math.abs(kept.length - fits) <= 1, `${fits} reports' worth kept, got ${kept.length}`);
    assert.deepEqual(kept, ids.slice(ids.length - kept.length), 'the ones reported longest ago went first');
    const gone = await c.call('GET', '/v1/proxies/noisy-0/config-dump');
    assert.match(gone.json().message, /its report was dropped for newer ones of its identity/);
    const ledger = await c.call('GET', '/v1/proxies/ledger-1/config-dump');
    assert.equal(ledger.status, 200, "another identity's report stays");
    assert.equal(ledger.json().clusters.length, 300);
  });

  it("answers 429 once a workload's telemetry holds its quota of edges in the window", async () => {
    const chatty = await workloadCredentials('chatty', 'quota');
    const perReport = 400; // about 52 KB of JSON, under this controller's 64 KiB body limit
    const report = (n: number) => ({
      proxy: 'chatty-1',
      intervalMs: 10_000,
      edges: Array.from({ length: perReport }, (_, i) => ({ source: 'quota/chatty', destination: `quota/d-${n}-${i}`, requests: 1, errors: 0, latencyBuckets: emptyBuckets() })),
    });
    for (let n = 0; n < 100_000 / perReport; n++) assert.equal((await c.call('POST', '/v1/telemetry', report(n), chatty)).status, 202, `report ${n}`);
    const refused = await c.call('POST', '/v1/telemetry', report(99), chatty);
    assert.equal(refused.status, 429);
    assert.equal(refused.json().code, 'RESOURCE_EXHAUSTED');
    assert.match(refused.json().message, /quota\/chatty has 100000 edges in the last/);
  });

  it('heartbeats a held watch with 102 Processing when asked, says so, and refuses a heartbeat outside 1s..60s', async () => {
    const first = await c.call('GET', '/v1/snapshots?proxy=beat-1&service=productpage&heartbeat=1s');
    assert.equal(first.headers['x-mesh-heartbeat'], '1');
    const version = first.json().version;
    const informational: number[] = [];
    const status = await new Promise<number>((resolve, reject) => {
      const req = httpsRequest(
        `${c.url}/v1/snapshots?proxy=beat-1&service=productpage&version=${version}&wait=3500ms&heartbeat=1s`,
        { ca: c.ca(), headers: { authorization: `Bearer ${c.adminToken}` } },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        },
      );
      req.on('information', (info) => informational.push(info.statusCode));
      req.on('error', reject);
      req.end();
    });
    assert.equal(status, 304);
    // One a second over 3.5 s (timers that run late may drop the third).
    assert.ok(informational.length >= 2 && informational.every((s) => s === 102), `informational responses: ${informational.join(', ')}`);
    for (const bad of ['0s', '90s', 'soon']) {
      const res = await c.call('GET', `/v1/snapshots?proxy=beat-1&service=productpage&heartbeat=${bad}`);
      assert.equal(res.status, 400);
      assert.match(res.json().message, /^heartbeat: /);
    }
  });

  it('lets a watch go as soon as its client does, not at the end of the wait', async () => {
    const first = await c.call('GET', '/v1/snapshots?proxy=leaving-1&service=productpage');
    const version = first.json().version;
    const req = httpsRequest(`${c.url}/v1/snapshots?proxy=leaving-1&service=productpage&version=${version}&wait=30s`, {
      ca: c.ca(),
      headers: { authorization: `Bearer ${c.adminToken}` },
    });
    req.on('error', () => undefined);
    req.end();
    await new Promise((r) => setTimeout(r, 300));
    req.destroy();
    const left = Date.now();
    // The hub marks a proxy seen when its watch ends.
    const lastSeen = async () => Date.parse((await c.call('GET', '/v1/proxies')).json().proxies.find((p: { id: string }) => p.id === 'leaving-1').lastSeen);
    await waitFor('the watch to be let go', async () => (await lastSeen()) >= left, 3000, 50);
  });

  it('lets a workload read snapshots of its own namespace only, as istiod does (its identity is a service account several services may share)', async () => {
    const token = (await c.call('POST', '/v1/tokens', { service: 'ratings' })).json().token;
    const { csr, key } = workloadCsr();
    const cert = (await c.call('POST', '/v1/ca/sign', { csr }, { token })).json().certificate;
    const mtls = { cert, key: key.privateKeyPem };
    assert.equal((await c.call('GET', '/v1/snapshots?proxy=ratings-1', undefined, mtls)).status, 200);
    assert.equal((await c.call('GET', '/v1/snapshots?proxy=x&service=reviews&namespace=prod', undefined, mtls)).status, 403);
    const sameNamespace = await c.call('GET', '/v1/snapshots?proxy=x&service=reviews', undefined, mtls);
    assert.equal(sameNamespace.status, 200);
    assert.equal(sameNamespace.json().proxy.identity, 'spiffe://mesh.test/ns/default/sa/ratings', 'the snapshot names the identity the certificate proves');
    assert.equal((await c.call('GET', '/v1/resources', undefined, mtls)).status, 403);
    // It registers and deregisters instances of its own service only.
    assert.equal((await c.call('POST', '/v1/catalog/instances', { id: 'ratings-1', service: 'ratings', address: '127.0.0.1', port: 9085 }, mtls)).status, 201);
    assert.equal((await c.call('POST', '/v1/catalog/instances', { id: 'evil-1', service: 'reviews', address: '127.0.0.1', port: 9085 }, mtls)).status, 403);
    assert.equal((await c.call('DELETE', '/v1/catalog/instances/reviews-v1-1', undefined, mtls)).status, 403);
    assert.equal((await c.call('DELETE', '/v1/catalog/instances/ratings-1', undefined, mtls)).status, 204);
    const wrongMethod = await c.call('PATCH', '/v1/resources');
    assert.equal(wrongMethod.status, 405);
    assert.equal(wrongMethod.json().code, 'METHOD_NOT_ALLOWED');
  });

  it('refuses TLS renegotiation: a connection keeps the identity its first certificate proved, and a client cannot make the server redo handshakes', async () => {
    const token = (await c.call('POST', '/v1/tokens', { service: 'ratings' })).json().token;
    const { csr, key } = workloadCsr();
    const cert = (await c.call('POST', '/v1/ca/sign', { csr }, { token })).json().certificate;
    const url = new URL(c.url);
    // TLS 1.3 has no renegotiation; a client that wants it asks for 1.2.
    const socket = tlsConnect({ host: url.hostname, port: Number(url.port), ca: c.ca(), cert, key: key.privateKeyPem, maxVersion: 'TLSv1.2', servername: 'localhost' });
    socket.on('error', () => undefined);
    await new Promise<void>((resolve, reject) => socket.once('secureConnect', resolve).once('error', reject));
    socket.resume(); // read, so that the server's close is seen
    const asked = await new Promise<Error | null>((resolve) => {
      const renegotiating = socket.renegotiate({ rejectUnauthorized: true }, (err) => resolve(err));
      if (!renegotiating) resolve(new Error('renegotiate() refused on the client side'));
      socket.once('close', () => resolve(new Error('closed')));
    });
    assert.ok(asked, 'the renegotiation did not complete');
    await waitFor('the server to close the connection', () => socket.destroyed || socket.readyState === 'closed', 3000, 20);
    assert.equal((await c.call('GET', '/v1/snapshots?proxy=ratings-1', undefined, { cert, key: key.privateKeyPem })).status, 200, 'a new connection with the certificate is served');
  });

  it('aggregates telemetry reports into per-service and per-edge rates, errors and percentiles', async () => {
    const buckets = emptyBuckets();
    buckets[bucketIndex(3)] = 90; // 90 requests between 1 and 5 ms
    buckets[bucketIndex(400)] = 10; // 10 between 250 and 500 ms
    const report = { proxy: 'productpage-1', intervalMs: 10_000, edges: [{ source: 'default/productpage', destination: 'default/reviews', requests: 100, errors: 5, latencyBuckets: buckets }] };
    assert.equal((await c.call('POST', '/v1/telemetry', report)).status, 202);
    const edge = (await c.call('GET', '/v1/telemetry/edges')).json().edges.find((e: { destination: string }) => e.destination === 'default/reviews');
    assert.equal(edge.source, 'default/productpage');
    assert.equal(edge.requests, 100);
    assert.equal(edge.errorRate, 0.05);
    assert.ok(edge.p50Ms > 1 && edge.p50Ms <= 5, `p50 ${edge.p50Ms}`);
    assert.ok(edge.p99Ms > 250 && edge.p99Ms <= 500, `p99 ${edge.p99Ms}`);
    assert.ok(edge.requestsPerSecond > 0);
    // A workload reports its own namespace's traffic: another namespace's edge is refused, and
    // nothing of the report is taken.
    const cart = await workloadCredentials('cart', 'shop');
    const forged = { ...report, proxy: 'cart-1', edges: [{ ...report.edges[0], source: 'shop/cart', destination: 'shop/payments' }, report.edges[0]] };
    const refused = await c.call('POST', '/v1/telemetry', forged, cart);
    assert.equal(refused.status, 403);
    assert.match(refused.json().message, /edges\[1\]\.source: "default\/productpage" is not of namespace shop/);
    const services = (await c.call('GET', '/v1/telemetry/services')).json().services as { service: string; requests: number }[];
    assert.equal(
      services.find((s) => s.service === 'shop/payments'),
      undefined,
      'nothing of a refused report is counted',
    );
    assert.equal(services.find((s) => s.service === 'default/reviews')?.requests, 100);
    assert.equal((await c.call('POST', '/v1/telemetry', { ...forged, edges: [forged.edges[0]] }, cart)).status, 202, 'its own edges are taken');
    // Counts JSON reads as Infinity would stay in every sum of the window.
    const infinite = await c.call(
      'POST',
      '/v1/telemetry',
      `{"proxy":"x","intervalMs":1,"edges":[{"source":"default/a","destination":"default/b","requests":1e999,"errors":0,"latencyBuckets":${JSON.stringify(buckets)}}]}`,
    );
    assert.equal(infinite.status, 422);
    assert.match(infinite.json().message, /edges\[0\]\.requests: must be a non-negative finite number/);
    const bad = await c.call('POST', '/v1/telemetry', { proxy: 'x', intervalMs: 1, edges: [{ source: 'a', destination: 'b', requests: -1, errors: 0, latencyBuckets: [1] }] });
    assert.equal(bad.status, 422);
    assert.deepEqual(
      bad
        .json()
        .violations.map((v: { path: string }) => v.path)
        .sort(),
      ['edges[0].latencyBuckets', 'edges[0].requests'],
    );
  });

  it('gives a host agent a token that mints bootstrap tokens and registers instances, and nothing else', async () => {
    const made = await c.call('POST', '/v1/agent-tokens', { host: 'vm-7' });
    assert.equal(made.status, 201);
    const agent = { token: made.json().token as string };
    assert.match(agent.token, /^mag1\./);
    const bootstrap = await c.call('POST', '/v1/tokens', { service: 'payments' }, agent);
    assert.equal(bootstrap.status, 201, bootstrap.text);
    const reg = await c.call('POST', '/v1/catalog/instances', { id: 'payments-vm7', service: 'payments', address: '10.9.9.9', port: 8080 }, agent);
    assert.equal(reg.status, 201, reg.text);
    assert.equal((await c.call('DELETE', '/v1/catalog/instances/payments-vm7', undefined, agent)).status, 204);
    // Config, snapshots, certificates and more agent tokens stay out of reach.
    const apply = await c.call('POST', '/v1/apply', VS, agent);
    assert.equal(apply.status, 403);
    assert.match(apply.json().message, /the host agent token of vm-7 may not call this API; it needs the admin token/);
    assert.equal((await c.call('DELETE', '/v1/resources/vs/default/reviews', undefined, agent)).status, 403);
    assert.equal((await c.call('POST', '/v1/agent-tokens', { host: 'evil' }, agent)).status, 403);
    assert.equal((await c.call('GET', '/v1/snapshots?proxy=p&service=payments', undefined, agent)).status, 403);
    const sign = await c.call('POST', '/v1/ca/sign', { csr: workloadCsr().csr }, agent);
    assert.equal(sign.status, 403);
    assert.match(sign.json().message, /cannot sign certificates; it mints a bootstrap token/);
    assert.equal((await c.call('POST', '/v1/agent-tokens', { host: 'bad host!' })).status, 400);

    // Revoked: the same token is refused from then on.
    const revoked = await c.call('DELETE', '/v1/agent-tokens/vm-7');
    assert.deepEqual(revoked.json(), { host: 'vm-7', revoked: 1 });
    assert.equal((await c.call('POST', '/v1/tokens', { service: 'payments' }, agent)).status, 401);
    assert.equal((await c.call('DELETE', '/v1/agent-tokens/vm-7')).status, 404);
  });

  it('loses no resource, no CA and no catalog entry across a restart', async () => {
    const roots = (await c.call('GET', '/v1/ca/roots')).json().roots;
    await c.call('POST', '/v1/apply', VS.replace('name: reviews', 'name: persisted'));
    await c.close();
    c = await startController({ trustDomain: 'mesh.test', dataDir: c.dataDir });
    assert.deepEqual((await c.call('GET', '/v1/ca/roots')).json().roots, roots);
    assert.equal((await c.call('GET', '/v1/resources/vs/default/persisted')).status, 200);
    const services = (await c.call('GET', '/v1/services')).json().services;
    assert.ok(services.some((s: { name: string }) => s.name === 'reviews'));
  });

  it('rotates the root and keeps trusting the old one', async () => {
    const old = (await c.call('GET', '/v1/ca/roots')).json().roots;
    const rotated = await c.call('POST', '/v1/ca/rotate');
    assert.equal(rotated.status, 200);
    const roots = rotated.json().roots;
    assert.equal(roots.length, old.length + 1);
    assert.deepEqual(roots.slice(1), old);
    // The API's own certificate follows the new root; a client trusting the bundle still connects.
    await waitFor('the API to answer with the new bundle', async () => (await c.call('GET', '/healthz', undefined, null)).status === 200);
  });
});
