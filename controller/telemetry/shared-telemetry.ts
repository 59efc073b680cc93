// A mesh-wide telemetry view with several controllers: each publishes the window of reports its
// own proxies sent it to the shared store (Consul KV) every few seconds, and reads the others'.
// Whichever controller a proxy reports to, and whichever one a person asks, the view is the same;
// a controller that dies leaves its last window, which ages out like any report. A window is
// written as parts (`telemetry/<controller>/<written at>/<n>`) that each fit one Consul KV value;
// the previous window's parts are deleted only once the new one is whole, and readers count a
// window only when all its parts are there, so nobody sees half of one.
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { EdgeReport } from '../../core/telemetry.js';
import { partsOfAtMost } from '../../core/telemetry-parts.js';
import type { KvEntry, KvStore } from '../kv/kv-store.js';
import { validateReport, type TelemetryAggregator } from './aggregator.js';

const PREFIX = 'telemetry/';
/** Half of Consul's default value limit (kv_max_value_size, 512 KB): room for the envelope and for a window that grows. */
export const MAX_PART_BYTES = 256 * 1024;

interface Published {
  /** When it was written (ms since epoch); older than the window: ignored, later deleted. */
  at: number;
  proxy: string;
  intervalMs: number;
  edges: EdgeReport[];
  /** This part's place among the parts written at `at` (absent in a window written whole by an older controller). */
  part?: number;
  parts?: number;
}

interface PeerPart extends Published {
  key: string;
}

export class SharedTelemetry {
  readonly id = `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
  private peers: PeerPart[] = [];
  /** The keys of the window written last: deleted once the next one is whole. */
  private written: string[] = [];
  private timer: NodeJS.Timeout | undefined;
  private unwatch: (() => void) | undefined;

  constructor(
    private readonly kv: KvStore,
    private readonly local: TelemetryAggregator,
    private readonly opts: { publishMs: number; windowMs: number; onError: (err: unknown) => void; maxPartBytes?: number },
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
    // Nothing new: the last window written ages out on its own.
    if (edges.length > 0) {
      const parts = partsOfAtMost(edges, this.opts.maxPartBytes ?? MAX_PART_BYTES);
      const keys = parts.map((_, part) => `${PREFIX}${this.id}/${now}/${part}`);
      for (const [part, list] of parts.entries()) {
        const value: Published = { at: now, proxy: this.id, intervalMs: this.opts.windowMs, edges: list, part, parts: parts.length };
        await this.kv.put(keys[part], JSON.stringify(value));
      }
      for (const key of this.written) if (!keys.includes(key)) await this.kv.delete(key);
      this.written = keys;
    }
    // Windows of controllers long gone are cleared by whoever sees them.
    for (const p of this.peers) if (now - p.at > 10 * this.opts.windowMs) await this.kv.delete(p.key);
  }

  /** Stops publishing. Its last window stays for the others until it ages out, as if it had crashed. */
  close(): void {
    clearInterval(this.timer);
    this.unwatch?.();
  }

  /**
   * Each other controller's latest whole window: the parts written at the newest `at` that has
   * all of them (one being written is not counted until it is whole; a controller of an older
   * version, which rewrites its parts in place, has no whole one then, and its newest counts).
   */
  private read(entries: KvEntry[]): PeerPart[] {
    const byController = new Map<string, PeerPart[]>();
    for (const e of entries) {
      const [id] = e.key.slice(e.key.lastIndexOf(PREFIX) + PREFIX.length).split('/');
      if (id === this.id) continue;
      try {
        const p = JSON.parse(e.value) as Published;
        validateReport(p);
        if (typeof p.at !== 'number' || p.proxy !== id) continue;
        const parts = byController.get(id);
        if (parts) parts.push({ ...p, key: e.key });
        else byController.set(id, [{ ...p, key: e.key }]);
      } catch (err) {
        this.opts.onError(err);
      }
    }
    const out: PeerPart[] = [];
    for (const parts of byController.values()) {
      const found = new Map<number, number>();
      for (const p of parts) found.set(p.at, (found.get(p.at) ?? 0) + 1);
      const whole = parts.filter((p) => found.get(p.at) === (p.parts ?? 1)).map((p) => p.at);
      const newest = Math.max(...(whole.length > 0 ? whole : parts.map((p) => p.at)));
      // Older parts stay listed with their own `at`: too old to count, and deleted once long gone.
      out.push(...parts.filter((p) => p.at === newest), ...parts.filter((p) => p.at !== newest).map((p) => ({ ...p, at: Math.min(p.at, newest - this.opts.windowMs - 1) })));
    }
    return out;
  }
}
