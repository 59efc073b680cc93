// The sidecar's snapshot watch (proxy/snapshot-source.ts) against a controller that misbehaves,
// over real HTTPS: a server stands in for the controller, because the real one never sends a
// snapshot of another schema or a delta against a version the proxy does not hold. A refused
// snapshot is not fetched again in a tight loop; a delta that does not fit is refused and the
// whole snapshot asked for; a delta that fits is applied. First against a stand-in without the
// snapshot stream, as an older controller has none (the sidecar long-polls it), then over the stream.
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import type { RequestListener } from 'node:http';
import { createServer } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SNAPSHOT_SCHEMA_VERSION, type OutboundService, type ProxySnapshot } from '../../core/snapshot/types.js';
import { AckDecoder, STREAM_CONTENT_TYPE, snapshotFrameHead } from '../../core/snapshot/stream-frames.js';
import { ControllerClient } from '../../proxy/controller-client.js';
import { SnapshotSource } from '../../proxy/snapshot-source.js';
import { opensslCa } from '../helpers/openssl-ca.js';
import { waitFor } from '../helpers/ports.js';

const service = (name: string): OutboundService => ({ name, namespace: 'default', hosts: [name], external: false, ports: [], httpRoutes: [], tcpRoutes: [], clusters: [] });
const snapshot = (version: string, outbound: unknown, schemaVersion = SNAPSHOT_SCHEMA_VERSION) => JSON.stringify({ schemaVersion, version, outbound });

/** A stand-in controller over real HTTPS (a CA of its own) answering with `handle`, and the sidecar's snapshot sources pointed at it; `close` ends both. */
async function standIn(handle: RequestListener, timing: { waitSeconds: number; heartbeatSeconds: number }) {
  const ca = opensslCa();
  ca.issue('controller', { dns: ['localhost'] });
  const server = createServer({ cert: ca.read('controller.pem'), key: ca.read('controller.key') }, handle);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  const sources: SnapshotSource[] = [];
  return {
    /** A sidecar's snapshot source (started) at the stand-in, applying with `apply`. */
    source(apply: (s: ProxySnapshot) => void = () => undefined): SnapshotSource {
      const client = new ControllerClient(`https://localhost:${port}`, ca.read('ca.pem'), { token: 'test' });
      const source = new SnapshotSource(
        client,
        { dataDir: mkdtempSync(join(tmpdir(), 'mesh-source-')), proxyId: 'p-1', service: 'p', namespace: 'default', ...timing, backoffMinMs: 100, backoffMaxMs: 2000 },
        apply,
      );
      source.on('error', () => undefined);
      sources.push(source);
      void source.start();
      return source;
    },
    close(): void {
      for (const s of sources) s.close();
      server.closeAllConnections();
      server.close();
      ca.remove();
    },
  };
}

describe('snapshot watch against a misbehaving controller', () => {
  let stand: Awaited<ReturnType<typeof standIn>>;
  /** What the stand-in answers each watch with, given its query; undefined: it holds the watch. */
  let answer: (q: URLSearchParams) => string | undefined = () => undefined;
  const seen: URLSearchParams[] = [];

  before(async () => {
    stand = await standIn(
      (req, res) => {
        // A controller without the snapshot stream, so that the sidecar long-polls it (each poll's
        // query is what the stand-in answers); the stream's own tests are in controller-api.test.ts.
        if (req.url?.startsWith('/v1/snapshots/stream')) return void res.writeHead(404, { 'content-type': 'application/json' }).end('{"code":"NOT_FOUND","message":"no API at /v1/snapshots/stream"}');
        const q = new URL(req.url ?? '/', 'https://localhost').searchParams;
        seen.push(q);
        const body = answer(q);
        if (body !== undefined) res.writeHead(200, { 'content-type': 'application/json' }).end(body);
      },
      { waitSeconds: 1, heartbeatSeconds: 1 },
    );
  });
  after(() => stand.close());
  const watch = (apply?: (s: ProxySnapshot) => void) => stand.source(apply);

  it('waits longer each time before fetching again a snapshot it refuses', async () => {
    seen.length = 0;
    answer = () => snapshot('future', { services: [] }, 999);
    const source = watch();
    await new Promise((r) => setTimeout(r, 2000));
    source.close();
    // 100 + 200 + 400 + 800 ms of waiting fit in 2 s: five or six fetches, not hundreds.
    assert.ok(seen.length <= 7, `${seen.length} fetches in 2 s`);
    assert.ok(source.rejected >= 3, `refused ${source.rejected} times`);
  });

  it('refuses a delta against another version, asks for the whole snapshot, then applies deltas that fit', async () => {
    seen.length = 0;
    answer = (q) => {
      const held = q.get('version');
      if (!held) return snapshot(seen.length === 1 ? 'v1' : 'v2', { services: [service('a'), service('b')] });
      // Against v1 the stand-in answers a delta whose base is some other version.
      if (held === 'v1') return snapshot('v9', { delta: { base: 'v0', upsert: [], remove: ['mesh/default/a'] } });
      if (held === 'v2') return snapshot('v3', { delta: { base: 'v2', upsert: [service('c')], remove: ['mesh/default/a'], order: ['mesh/default/c', 'mesh/default/b'] } });
      return undefined; // v3: nothing more to say
    };
    const applied: ProxySnapshot[] = [];
    const source = watch((s) => void applied.push(s));
    await waitFor('the delta that fits to be applied', () => source.snapshot?.version === 'v3', 5000);
    assert.deepEqual(
      applied.map((s) => s.version),
      ['v1', 'v2', 'v3'],
      'v9 (a delta against v0) was never applied',
    );
    assert.equal(source.rejected, 1);
    assert.equal(seen[1].get('delta'), '1', 'the proxy said it takes deltas');
    assert.equal(seen[2].get('version'), null, 'after the delta that did not fit, the whole snapshot was asked for');
    assert.deepEqual(
      source.snapshot!.outbound.services.map((s) => s.name),
      ['c', 'b'],
    );
  });
});

// The same over the snapshot stream: a frame the sidecar cannot apply ends the stream, and the
// next one says what the sidecar holds; what it applies, it acknowledges a moment later.
describe('snapshot stream against a misbehaving controller', () => {
  let stand: Awaited<ReturnType<typeof standIn>>;
  /** The frames the stand-in writes on the n-th stream (from 0), given its query; the stream then stays open. */
  let script: (n: number, q: URLSearchParams) => string[] = () => [];
  const opened: URLSearchParams[] = [];
  const acked: string[][] = [];

  before(async () => {
    stand = await standIn(
      (req, res) => {
        const q = new URL(req.url ?? '/', 'https://localhost').searchParams;
        const n = opened.push(q) - 1;
        const acks: string[] = (acked[n] = []);
        const acksIn = new AckDecoder();
        req.on('data', (d: Buffer) => acks.push(...acksIn.push(d)));
        res.writeHead(200, { 'content-type': STREAM_CONTENT_TYPE });
        for (const body of script(n, q)) {
          const { version } = JSON.parse(body) as { version: string };
          res.write(`${snapshotFrameHead(version, body.includes('"delta"'), false, Buffer.byteLength(body))}${body}`);
        }
      },
      { waitSeconds: 30, heartbeatSeconds: 10 },
    );
  });
  after(() => stand.close());
  const follow = (apply?: (s: ProxySnapshot) => void) => stand.source(apply);

  it('opens a new stream, after a pause longer each time, for a snapshot it refuses', async () => {
    opened.length = 0;
    script = () => [snapshot('future', { services: [] }, 999)];
    const source = follow();
    await new Promise((r) => setTimeout(r, 2000));
    source.close();
    assert.ok(opened.length >= 3 && opened.length <= 7, `${opened.length} streams in 2 s`);
    assert.ok(source.rejected >= 3, `refused ${source.rejected} times`);
    assert.deepEqual(acked.slice(0, opened.length).flat(), [], 'nothing refused is acknowledged');
  });

  it('ends a stream on a delta against another version, asks for the whole snapshot, then applies and acknowledges deltas that fit', async () => {
    opened.length = 0;
    acked.length = 0;
    script = (n) =>
      n === 0
        ? [snapshot('v1', { services: [service('a'), service('b')] }), snapshot('v9', { delta: { base: 'v0', upsert: [], remove: ['mesh/default/a'] } })]
        : [
            snapshot('v2', { services: [service('a'), service('b')] }),
            snapshot('v3', { delta: { base: 'v2', upsert: [service('c')], remove: ['mesh/default/a'], order: ['mesh/default/c', 'mesh/default/b'] } }),
          ];
    const applied: ProxySnapshot[] = [];
    const source = follow((s) => void applied.push(s));
    await waitFor('the delta that fits to be applied', () => source.snapshot?.version === 'v3', 5000);
    // Acknowledged a second after the first of the two, once, naming the newest (core/snapshot/deferred-ack.ts).
    await waitFor('its acknowledgement', () => acked[1]?.length === 1, 3000);
    assert.deepEqual(
      applied.map((s) => s.version),
      ['v1', 'v2', 'v3'],
      'v9 (a delta against v0) was never applied',
    );
    assert.equal(source.rejected, 1);
    assert.equal(opened.length, 2, 'one new stream after the delta that did not fit');
    assert.equal(opened[1].get('version'), null, 'asking for the whole snapshot');
    assert.deepEqual(acked[0], [], 'neither the delta that did not fit nor v1, whose acknowledgement was still pending as the stream ended (the next stream names what the sidecar holds)');
    assert.deepEqual(acked[1], ['v3']);
    assert.deepEqual(
      source.snapshot!.outbound.services.map((s) => s.name),
      ['c', 'b'],
    );
  });
});
