// Keeps the sidecar's snapshot current: serves the last good one from disk at start, then follows
// the controller's snapshot stream (a long poll per change with a controller that has none) and
// applies each new version. A snapshot that fails to
// apply is refused and the old one kept; a controller that goes away is retried with backoff
// while traffic keeps flowing on what we have.
import { EventEmitter } from 'node:events';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MeshError } from '../core/errors.js';
import { SNAPSHOT_SCHEMA_VERSION, type ProxySnapshot } from '../core/snapshot/types.js';
import { applyOutboundDelta, isOutboundDelta } from '../core/snapshot/delta.js';
import { DeferredAck } from '../core/snapshot/deferred-ack.js';
import { gunzipSync } from 'node:zlib';
import type { ControllerClient, ControllerStream } from './controller-client.js';

export interface SnapshotSourceOptions {
  dataDir: string;
  proxyId: string;
  service: string;
  namespace: string;
  /** Sent for the controller's selectors (Gateways select gateway proxies by label). */
  labels?: Record<string, string>;
  gateway?: boolean;
  waitSeconds: number;
  /** The controller sends a 102 every this many seconds while it holds the watch; three missed, and the next controller is asked. */
  heartbeatSeconds: number;
  backoffMinMs: number;
  backoffMaxMs: number;
}

/** Long polls before a controller that said it has no stream is asked for one again. */
const POLLS_BEFORE_STREAM_RETRY = 20;

/** Applies a snapshot; throws to refuse it. */
export type ApplySnapshot = (s: ProxySnapshot) => void;

export class SnapshotSource extends EventEmitter {
  private current: ProxySnapshot | undefined;
  private running = false;
  private stream: ControllerStream | undefined;
  /** Long polls left before a stream is tried again (a controller answered that it has none). */
  private pollsLeft = 0;
  private refusedBackoff: number;
  /** The wait before the next attempt after a controller could not be reached; grows while it cannot. */
  private backoff: number;
  /** Times a received snapshot was refused; exported as a metric. */
  rejected = 0;
  /** A delta did not fit what is held: the next watch asks for the whole snapshot. */
  private wantWhole = false;
  connected = false;

  constructor(
    private readonly client: ControllerClient,
    private readonly options: SnapshotSourceOptions,
    private readonly apply: ApplySnapshot,
  ) {
    super();
    this.refusedBackoff = options.backoffMinMs;
    this.backoff = options.backoffMinMs;
  }

  get snapshot(): ProxySnapshot | undefined {
    return this.current;
  }

  /** Applies the stored snapshot if there is one, then starts watching. Resolves once a snapshot is applied. */
  async start(): Promise<void> {
    const stored = await this.load();
    if (stored) this.accept(stored, false);
    this.running = true;
    const first = new Promise<void>((resolve) => (this.current ? resolve() : this.once('applied', () => resolve())));
    void this.loop();
    await first;
  }

  close(): void {
    this.running = false;
    this.stream?.close();
  }

  private async loop(): Promise<void> {
    while (this.running) {
      try {
        // A controller without streams (an older one, mid-upgrade) is long-polled for a while, then asked again.
        if (this.pollsLeft > 0) {
          this.pollsLeft--;
          await this.poll();
        } else await this.follow();
      } catch (err) {
        if (!this.running) return;
        if (err instanceof MeshError && (err.code === 'NOT_FOUND' || err.code === 'METHOD_NOT_ALLOWED')) {
          this.pollsLeft = POLLS_BEFORE_STREAM_RETRY;
          continue;
        }
        this.connected = false;
        this.emit('error', err);
        await new Promise((r) => setTimeout(r, this.backoff * (0.5 + Math.random() / 2)));
        this.backoff = Math.min(this.backoff * 2, this.options.backoffMaxMs);
      }
    }
  }

  /** The watch's query: who this proxy is, what it holds (changes may then come as deltas, core/snapshot/delta.ts). */
  private query(): URLSearchParams {
    const o = this.options;
    const q = new URLSearchParams({ proxy: o.proxyId, service: o.service, namespace: o.namespace, wait: `${o.waitSeconds}s`, heartbeat: `${o.heartbeatSeconds}s` });
    for (const [k, v] of Object.entries(o.labels ?? {})) q.append('label', `${k}=${v}`);
    if (o.gateway) q.set('mode', 'gateway');
    if (this.current && !this.wantWhole) {
      q.set('version', this.current.version);
      q.set('delta', '1');
    }
    return q;
  }

  /**
   * Follows the snapshot stream until the controller ends it (after `wait`, or as it drains),
   * applying each snapshot and acknowledging it a moment later (core/snapshot/deferred-ack.ts).
   * A snapshot that does not apply ends the stream: the
   * next one names the version held (a refused one is sent again: it waits first, longer each
   * time, so that the two do not spin); a delta that does not fit, the whole one is asked for.
   */
  private async follow(): Promise<void> {
    const o = this.options;
    const stream = await this.client.openStream(`/v1/snapshots/stream?${this.query()}`, { heartbeatTimeoutMs: 3 * o.heartbeatSeconds * 1000 });
    if (!this.running) return stream.close(); // closed while it was being opened
    this.stream = stream;
    this.reached();
    const acks = new DeferredAck((version) => stream.ack(version));
    try {
      for await (const frame of stream.frames()) {
        if (frame.type !== 'snapshot') continue;
        const whole = this.whole(JSON.parse((frame.gzip ? gunzipSync(frame.body) : frame.body).toString('utf8')) as ProxySnapshot);
        if (!whole) return;
        if (!this.accept(whole, true)) {
          stream.close();
          return await this.refusedPause();
        }
        this.refusedBackoff = o.backoffMinMs;
        acks.applied(whole.version);
      }
    } finally {
      acks.cancel();
      stream.close();
      this.stream = undefined;
    }
  }

  /** One long poll (GET /v1/snapshots), for controllers that do not stream. */
  private async poll(): Promise<void> {
    const o = this.options;
    const res = await this.client.request('GET', `/v1/snapshots?${this.query()}`, undefined, {
      timeoutMs: (o.waitSeconds + 15) * 1000,
      heartbeatTimeoutMs: 3 * o.heartbeatSeconds * 1000,
    });
    this.reached();
    if (res.status !== 200) return;
    const whole = this.whole(JSON.parse(res.body) as ProxySnapshot);
    if (whole && !this.accept(whole, true)) await this.refusedPause();
    else if (whole) this.refusedBackoff = o.backoffMinMs;
  }

  /** A controller answered: connected, and the next failure waits the shortest backoff again. */
  private reached(): void {
    this.connected = true;
    this.backoff = this.options.backoffMinMs;
  }

  /** A refused snapshot would come back at once (the controller sees the old version): wait, longer each time. */
  private async refusedPause(): Promise<void> {
    await new Promise((r) => setTimeout(r, this.refusedBackoff));
    this.refusedBackoff = Math.min(this.refusedBackoff * 2, this.options.backoffMaxMs);
  }

  /** A received snapshot made whole: a delta is applied to the one held; undefined when it does not fit (the whole one is asked for next). */
  private whole(received: ProxySnapshot): ProxySnapshot | undefined {
    this.wantWhole = false;
    const outbound: unknown = received.outbound;
    const delta = isOutboundDelta(outbound);
    this.emit('received', delta ? 'delta' : 'full');
    if (!delta) return received;
    try {
      if (!this.current) throw new Error('no snapshot is held');
      return { ...received, outbound: applyOutboundDelta(this.current.outbound, this.current.version, outbound.delta) };
    } catch (err) {
      this.rejected++;
      this.wantWhole = true;
      this.emit('rejected', received);
      this.emit('error', new MeshError('INVALID_ARGUMENT', `snapshot ${String(received.version)} came as a delta that does not fit, asking for it whole: ${(err as Error).message}`, { cause: err }));
      return undefined;
    }
  }

  /** False when the snapshot was refused (the one held stays). */
  private accept(s: ProxySnapshot, persist: boolean): boolean {
    try {
      if (s.schemaVersion !== SNAPSHOT_SCHEMA_VERSION) throw new MeshError('INVALID_ARGUMENT', `snapshot schema ${String(s.schemaVersion)} is not ${SNAPSHOT_SCHEMA_VERSION}; upgrade the sidecar`);
      this.apply(s);
    } catch (err) {
      this.rejected++;
      this.emit('rejected', s);
      this.emit('error', new MeshError('INVALID_ARGUMENT', `snapshot ${s.version} refused, keeping ${this.current?.version ?? 'none'}: ${(err as Error).message}`, { cause: err }));
      return false;
    }
    this.current = s;
    this.emit('applied', s);
    if (persist) void this.persist(s).catch((err: unknown) => this.emit('error', err));
    return true;
  }

  private async load(): Promise<ProxySnapshot | undefined> {
    try {
      return JSON.parse(await readFile(join(this.options.dataDir, 'snapshot.json'), 'utf8')) as ProxySnapshot;
    } catch {
      return undefined;
    }
  }

  private async persist(s: ProxySnapshot): Promise<void> {
    await mkdir(this.options.dataDir, { recursive: true, mode: 0o700 });
    const path = join(this.options.dataDir, 'snapshot.json');
    await writeFile(`${path}.tmp`, JSON.stringify(s));
    await rename(`${path}.tmp`, path);
  }
}
