// A mesh-wide telemetry view with several controllers: each publishes the window of reports its
// own proxies sent it to the shared store (Consul KV) every few seconds, and reads the others'.
// Whichever controller a proxy reports to, and whichever one a person asks, the view is the same;
// a controller that dies leaves its last window, which ages out like any report.
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { EdgeReport } from '../../core/telemetry.js';
import type { KvEntry, KvStore } from '../kv/kv-store.js';
import { validateReport, type TelemetryAggregator } from './aggregator.js';

const PREFIX = 'telemetry/';

interface Published {
  /** When it was written (ms since epoch); older than the window: ignored, later deleted. */
  at: number;
  proxy: string;
  intervalMs: number;
  edges: EdgeReport[];
}

export class SharedTelemetry {
  readonly id = `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
  private peers: Published[] = [];
  private timer: NodeJS.Timeout | undefined;
  private unwatch: (() => void) | undefined;

  constructor(
    private readonly kv: KvStore,
    private readonly local: TelemetryAggregator,
    private readonly opts: { publishMs: number; windowMs: number; onError: (err: unknown) => void },
  ) {}

  start(): void {
    this.unwatch = this.kv.watch(PREFIX, (entries) => (this.peers = this.read(entries)));
    this.timer = setInterval(() => void this.publish().catch(this.opts.onError), this.opts.publishMs);
    this.timer.unref();
  }

  /** The other controllers' windows that are still fresh: merged into this controller's view. */
  peerEdges(now = Date.now()): EdgeReport[] {
    return this.peers.filter((p) => now - p.at <= this.opts.windowMs).flatMap((p) => p.edges);
  }

  async publish(now = Date.now()): Promise<void> {
    const edges = this.local.window(now);
    const key = `${PREFIX}${this.id}`;
    // Nothing new: the last window written ages out on its own.
    if (edges.length > 0) {
      const value: Published = { at: now, proxy: this.id, intervalMs: this.opts.windowMs, edges };
      await this.kv.put(key, JSON.stringify(value));
    }
    // Windows of controllers long gone are cleared by whoever sees them.
    for (const p of this.peers) if (now - p.at > 10 * this.opts.windowMs) await this.kv.delete(`${PREFIX}${p.proxy}`);
  }

  /** Stops publishing. Its last window stays for the others until it ages out, as if it had crashed. */
  close(): void {
    clearInterval(this.timer);
    this.unwatch?.();
  }

  private read(entries: KvEntry[]): Published[] {
    const out: Published[] = [];
    for (const e of entries) {
      const id = e.key.slice(e.key.lastIndexOf('/') + 1);
      if (id === this.id) continue;
      try {
        const p = JSON.parse(e.value) as Published;
        validateReport(p);
        if (typeof p.at === 'number' && p.proxy === id) out.push(p);
      } catch (err) {
        this.opts.onError(err);
      }
    }
    return out;
  }
}
