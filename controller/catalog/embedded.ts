// The embedded registry: the catalog used when no Consul address is given. In-process, persisted
// to the data directory (a compacted file and an append-only journal: registry-journal.ts), and
// with Consul's behaviour: instances with a check start critical and become endpoints once it
// passes; failing ones drop out.
import { mkdir, open, readFile, rename, writeFile, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { InstanceRegistration, ServiceInstance } from '../../core/catalog-model.js';
import { parseDurationMs } from '../../core/duration.js';
import { MeshError } from '../../core/errors.js';
import type { Catalog } from './catalog.js';
import { CatalogView } from './catalog-view.js';
import { probeHttp, probeTcp } from './health-checker.js';
import { validateRegistration } from '../../core/catalog-registration.js';
import { encodeEntry, replay, type JournalEntry } from './registry-journal.js';

/** The journal is folded into the file once it holds this many changes, or twice as many as there are instances. */
const COMPACT_AFTER = 1000;

interface Entry {
  registration: InstanceRegistration;
  healthy: boolean;
  lastHeartbeat: number;
}

const DEFAULT_INTERVAL_MS = 1000;

export class EmbeddedCatalog extends CatalogView implements Catalog {
  private readonly entries = new Map<string, Entry>();
  /** Instance ids per `namespace/service`: a change rebuilds its own service only. */
  private readonly byService = new Map<string, Set<string>>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private persisting: Promise<void> = Promise.resolve();
  private journal: FileHandle | undefined;
  private journaled = 0;
  private closed = false;

  constructor(private readonly path: string | undefined) {
    super();
  }

  async start(): Promise<void> {
    if (!this.path) return;
    await mkdir(dirname(this.path), { recursive: true });
    const read = async (file: string) => {
      try {
        return await readFile(file, 'utf8');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw err;
      }
    };
    try {
      const base = JSON.parse((await read(this.path)) ?? '[]') as InstanceRegistration[];
      const { registrations } = replay(base, (await read(this.journalPath)) ?? '');
      for (const r of registrations.values()) this.add(r);
    } catch (err) {
      throw new MeshError('INTERNAL', `cannot read the registry ${this.path} (and its journal): ${(err as Error).message}`, { cause: err });
    }
    this.rebuild();
    // Start from a compacted file and an empty journal.
    await this.writeBase();
    await writeFile(this.journalPath, '', { mode: 0o600 });
    // Append mode: every write lands at the end, also after compaction truncates the journal.
    this.journal = await open(this.journalPath, 'a', 0o600);
  }

  private get journalPath(): string {
    return `${this.path}.journal`;
  }

  async register(registration: InstanceRegistration): Promise<void> {
    const r = validateRegistration(registration);
    const existing = this.entries.get(r.id);
    if (existing && JSON.stringify(existing.registration) === JSON.stringify(r)) {
      existing.lastHeartbeat = Date.now(); // re-registering the same thing is a heartbeat
      if (r.check?.ttl && !existing.healthy) this.setHealth(r.id, true);
      return;
    }
    const before = existing && serviceKeyOf(existing.registration);
    this.remove(r.id);
    this.add(r);
    if (before && before !== serviceKeyOf(r)) this.rebuildService(before);
    this.changed(serviceKeyOf(r), { op: 'put', r });
  }

  async deregister(instanceId: string): Promise<void> {
    const e = this.entries.get(instanceId);
    if (!e) throw new MeshError('NOT_FOUND', `no instance "${instanceId}" is registered`);
    this.remove(instanceId);
    this.changed(serviceKeyOf(e.registration), { op: 'del', id: instanceId });
  }

  /** TTL checks: the instance says it is alive. */
  heartbeat(instanceId: string): void {
    const e = this.entries.get(instanceId);
    if (!e) throw new MeshError('NOT_FOUND', `no instance "${instanceId}" is registered`);
    e.lastHeartbeat = Date.now();
    if (!e.healthy) this.setHealth(instanceId, true);
  }

  healthy(): boolean {
    return true;
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const t of this.timers.values()) clearInterval(t);
    this.timers.clear();
    await this.persisting;
    await this.journal?.close();
    this.journal = undefined;
    this.stopNotifying();
  }

  private add(r: InstanceRegistration): void {
    const check = r.check;
    this.entries.set(r.id, { registration: r, healthy: !check || Boolean(check.ttl), lastHeartbeat: Date.now() });
    const key = serviceKeyOf(r);
    const ids = this.byService.get(key);
    if (ids) ids.add(r.id);
    else this.byService.set(key, new Set([r.id]));
    if (!check) return;
    const every = check.interval ? (parseDurationMs(check.interval) as number) : DEFAULT_INTERVAL_MS;
    const ttlMs = check.ttl ? (parseDurationMs(check.ttl) as number) : 0;
    const run = async () => {
      const e = this.entries.get(r.id);
      if (!e || this.closed) return;
      const ok = check.http ? await probeHttp(check.http) : check.tcp ? await probeTcp(check.tcp) : Date.now() - e.lastHeartbeat <= ttlMs;
      if (this.entries.get(r.id) === e && ok !== e.healthy) this.setHealth(r.id, ok);
    };
    const timer = setInterval(run, check.ttl ? Math.max(100, Math.min(every, ttlMs / 2)) : every);
    timer.unref();
    this.timers.set(r.id, timer);
    if (!check.ttl) void run();
  }

  private remove(id: string): void {
    clearInterval(this.timers.get(id));
    this.timers.delete(id);
    const e = this.entries.get(id);
    if (!e) return;
    this.entries.delete(id);
    const key = serviceKeyOf(e.registration);
    const ids = this.byService.get(key);
    ids?.delete(id);
    if (ids?.size === 0) this.byService.delete(key);
  }

  private setHealth(id: string, healthy: boolean): void {
    const e = this.entries.get(id);
    if (!e) return;
    e.healthy = healthy;
    this.rebuildService(serviceKeyOf(e.registration));
  }

  private changed(service: string, entry: JournalEntry): void {
    this.rebuildService(service);
    this.persist(entry);
  }

  /** The whole view, once, at start. */
  private rebuild(): void {
    const healthy = [...this.entries.values()].filter((e) => e.healthy).map((e) => toInstance(e.registration));
    this.publish(healthy, this.byService.keys());
  }

  private rebuildService(key: string): void {
    const ids = this.byService.get(key);
    const healthy: ServiceInstance[] = [];
    for (const id of ids ?? []) {
      const e = this.entries.get(id);
      if (e?.healthy) healthy.push(toInstance(e.registration));
    }
    this.publishService(key, healthy, ids !== undefined);
  }

  /** One change, appended to the journal; now and then the journal is folded into the file. */
  private persist(entry: JournalEntry): void {
    if (!this.path) return;
    const line = encodeEntry(entry);
    this.persisting = this.persisting.then(async () => {
      if (!this.journal) return;
      await this.journal.write(line);
      if (++this.journaled >= Math.max(COMPACT_AFTER, 2 * this.entries.size)) await this.compact();
    });
  }

  /** The file gets every registration (written aside, then renamed), then the journal empties; a crash between the two replays changes the file already holds, to the same result. */
  private async compact(): Promise<void> {
    await this.writeBase();
    await this.journal?.truncate(0);
    this.journaled = 0;
  }

  private async writeBase(): Promise<void> {
    const path = this.path!;
    await writeFile(`${path}.tmp`, JSON.stringify([...this.entries.values()].map((e) => e.registration)), { mode: 0o600 });
    await rename(`${path}.tmp`, path);
  }
}

const serviceKeyOf = (r: InstanceRegistration) => `${r.namespace ?? 'default'}/${r.service}`;

function toInstance(r: InstanceRegistration): ServiceInstance {
  const inst: ServiceInstance = { id: r.id, service: r.service, namespace: r.namespace ?? 'default', address: r.address, port: r.port, labels: r.labels ?? {}, healthy: true };
  if (r.protocol) inst.protocol = r.protocol;
  if (r.sidecar) inst.sidecar = r.sidecar;
  if (r.serviceAccount) inst.serviceAccount = r.serviceAccount;
  return inst;
}
