// KvStore on Consul's KV, so that several controllers share resources and the CA, and a
// controller restart loses nothing. Compare-and-set uses Consul's ModifyIndex as the version.
import Consul from 'consul';
import { MeshError } from '../../core/errors.js';
import { conflict } from './file-kv.js';
import type { KvEntry, KvStore } from './kv-store.js';
import { blockingWait } from '../consul/blocking-wait.js';
import { ConsulLiveness } from '../consul/liveness.js';

interface ConsulKvItem {
  Key: string;
  Value: string | null;
  ModifyIndex: number;
}

interface WatchSpec {
  prefix: string;
  onChange: (entries: KvEntry[]) => void;
  current?: { end(): void };
}

export class ConsulKvStore implements KvStore {
  private readonly watches = new Set<WatchSpec>();
  private readonly liveness: ConsulLiveness;
  private readonly ownsLiveness: boolean;

  /** `root` is a key prefix such as `mesh/` that keeps the mesh's keys apart from others'. */
  constructor(
    private readonly consul: Consul,
    private readonly root: string,
    liveness?: ConsulLiveness,
  ) {
    this.ownsLiveness = !liveness;
    this.liveness = liveness ?? new ConsulLiveness(consul);
  }

  async start(): Promise<void> {
    this.liveness.start();
    // Consul came back: restart the blocking queries instead of waiting out old indexes.
    this.liveness.on('up', () => {
      for (const spec of this.watches) this.runWatch(spec);
    });
    await this.read(() => this.consul.kv.keys({ key: this.root }).catch(notFoundAsEmpty));
  }

  async get(key: string): Promise<KvEntry | undefined> {
    const item = (await this.read(() => this.consul.kv.get({ key: this.root + key }))) as ConsulKvItem | null;
    return item ? this.entry(item) : undefined;
  }

  async list(prefix: string): Promise<KvEntry[]> {
    const items = (await this.read(() => this.consul.kv.get({ key: this.root + prefix, recurse: true }))) as ConsulKvItem[] | ConsulKvItem | null;
    return toList(items).map((i) => this.entry(i));
  }

  async put(key: string, value: string, expectedVersion?: number): Promise<number> {
    const verb = expectedVersion === undefined ? 'set' : 'cas';
    const op: Record<string, unknown> = { Verb: verb, Key: this.root + key, Value: Buffer.from(value).toString('base64') };
    if (expectedVersion !== undefined) op.Index = expectedVersion;
    const result = await this.txn([{ KV: op }], key, expectedVersion);
    return (result.Results?.[0]?.KV as { ModifyIndex: number }).ModifyIndex;
  }

  async delete(key: string, expectedVersion?: number): Promise<boolean> {
    const existing = await this.get(key);
    if (!existing) {
      if (expectedVersion !== undefined && expectedVersion !== 0) throw conflict(key, expectedVersion, 0);
      return false;
    }
    const op: Record<string, unknown> = { Verb: 'delete-cas', Key: this.root + key, Index: expectedVersion ?? existing.version };
    await this.txn([{ KV: op }], key, expectedVersion ?? existing.version);
    return true;
  }

  watch(prefix: string, onChange: (entries: KvEntry[]) => void): () => void {
    const spec: WatchSpec = { prefix, onChange };
    this.watches.add(spec);
    this.runWatch(spec);
    return () => {
      spec.current?.end();
      this.watches.delete(spec);
    };
  }

  healthy(): boolean {
    return this.liveness.healthy();
  }

  async close(): Promise<void> {
    for (const spec of this.watches) spec.current?.end();
    this.watches.clear();
    if (this.ownsLiveness) this.liveness.close();
  }

  /** Blocking queries on the prefix; the client library backs off while Consul is away. */
  private runWatch(spec: WatchSpec): void {
    spec.current?.end();
    const w = this.consul.watch({
      method: this.consul.kv.get,
      options: { key: this.root + spec.prefix, recurse: true, wait: blockingWait() } as unknown as Record<string, string>,
      backoffFactor: 100,
      backoffMax: 5000,
    });
    w.on('change', (data: ConsulKvItem[] | ConsulKvItem | null) => spec.onChange(toList(data).map((i) => this.entry(i))));
    w.on('error', (err: Error & { statusCode?: number; response?: { statusCode?: number } }) => {
      if ((err.response?.statusCode ?? err.statusCode) === 404) return spec.onChange([]);
      this.liveness.suspect();
    });
    spec.current = w;
  }

  private entry(i: ConsulKvItem): KvEntry {
    // The client library has already decoded Consul's base64 values.
    return { key: i.Key.slice(this.root.length), value: i.Value ?? '', version: i.ModifyIndex };
  }

  private async txn(ops: unknown[], key: string, expected: number | undefined): Promise<{ Results?: Record<string, unknown>[] }> {
    try {
      return (await this.consul.transaction.create(ops as never)) as { Results?: Record<string, unknown>[] };
    } catch (err) {
      const e = err as Error & { response?: { statusCode?: number }; statusCode?: number };
      const status = e.response?.statusCode ?? e.statusCode;
      if (status === 409) {
        const current = await this.get(key);
        throw conflict(key, expected ?? 0, current?.version ?? 0);
      }
      throw this.unavailable(err);
    }
  }

  /**
   * A read, asked again once when the connection closed under it: a kept-alive connection the
   * agent closes as we reuse it ("socket hang up") is no reason to fail an apply or to mark
   * Consul down. Writes are not repeated (a compare-and-set may have applied).
   */
  private async read<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (!closedUnder(err)) throw this.unavailable(err);
      return this.call(fn);
    }
  }

  private async call<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw this.unavailable(err);
    }
  }

  private unavailable(err: unknown): MeshError {
    if (err instanceof MeshError) return err;
    // Consul is asked at once; it is down only if that goes unanswered (a "down" and the "up"
    // after it restart every watch, which one dropped connection is no reason for).
    this.liveness.suspect();
    return new MeshError('UNAVAILABLE', `Consul KV did not answer: ${(err as Error).message}`, { cause: err });
  }
}

/** The connection was closed or reset before an answer came. */
function closedUnder(err: unknown): boolean {
  const e = err as { code?: string; message?: string; cause?: { code?: string } };
  return e.code === 'ECONNRESET' || e.cause?.code === 'ECONNRESET' || /socket hang up|ECONNRESET/.test(e.message ?? '');
}

function toList(data: ConsulKvItem[] | ConsulKvItem | null | undefined): ConsulKvItem[] {
  if (!data) return [];
  return Array.isArray(data) ? data : [data];
}

function notFoundAsEmpty(err: Error & { statusCode?: number; response?: { statusCode?: number } }): string[] {
  if ((err.response?.statusCode ?? err.statusCode) === 404) return [];
  throw err;
}
