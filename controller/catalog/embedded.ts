// The embedded registry: the catalog used when no Consul address is given. In-process, persisted
// to the data directory, and with Consul's behaviour: instances with a check start critical and
// become endpoints once it passes; failing ones drop out.
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { InstanceRegistration, ServiceInstance } from '../../core/catalog-model.js';
import { parseDurationMs } from '../../core/duration.js';
import { MeshError } from '../../core/errors.js';
import type { Catalog } from './catalog.js';
import { CatalogView } from './catalog-view.js';
import { probeHttp, probeTcp } from './health-checker.js';
import { validateRegistration } from './registration.js';

interface Entry {
  registration: InstanceRegistration;
  healthy: boolean;
  lastHeartbeat: number;
}

const DEFAULT_INTERVAL_MS = 1000;

export class EmbeddedCatalog extends CatalogView implements Catalog {
  private readonly entries = new Map<string, Entry>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private persisting: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(private readonly path: string | undefined) {
    super();
  }

  async start(): Promise<void> {
    if (!this.path) return;
    try {
      const saved = JSON.parse(await readFile(this.path, 'utf8')) as InstanceRegistration[];
      for (const r of saved) this.add(r);
      this.rebuild();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new MeshError('INTERNAL', `cannot read the registry file ${this.path}: ${(err as Error).message}`, { cause: err });
      await mkdir(dirname(this.path), { recursive: true });
    }
  }

  async register(registration: InstanceRegistration): Promise<void> {
    const r = validateRegistration(registration);
    const existing = this.entries.get(r.id);
    if (existing && JSON.stringify(existing.registration) === JSON.stringify(r)) {
      existing.lastHeartbeat = Date.now(); // re-registering the same thing is a heartbeat
      if (r.check?.ttl && !existing.healthy) this.setHealth(r.id, true);
      return;
    }
    this.remove(r.id);
    this.add(r);
    this.changed();
  }

  async deregister(instanceId: string): Promise<void> {
    if (!this.entries.has(instanceId)) throw new MeshError('NOT_FOUND', `no instance "${instanceId}" is registered`);
    this.remove(instanceId);
    this.changed();
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
    this.stopNotifying();
  }

  private add(r: InstanceRegistration): void {
    const check = r.check;
    this.entries.set(r.id, { registration: r, healthy: !check || Boolean(check.ttl), lastHeartbeat: Date.now() });
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
    this.entries.delete(id);
  }

  private setHealth(id: string, healthy: boolean): void {
    const e = this.entries.get(id);
    if (!e) return;
    e.healthy = healthy;
    this.rebuild();
  }

  private changed(): void {
    this.rebuild();
    this.persist();
  }

  private rebuild(): void {
    const healthy: ServiceInstance[] = [];
    const known: string[] = [];
    for (const { registration: r, healthy: ok } of this.entries.values()) {
      const namespace = r.namespace ?? 'default';
      known.push(`${namespace}/${r.service}`);
      if (!ok) continue;
      const inst: ServiceInstance = { id: r.id, service: r.service, namespace, address: r.address, port: r.port, labels: r.labels ?? {}, healthy: true };
      if (r.protocol) inst.protocol = r.protocol;
      if (r.sidecar) inst.sidecar = r.sidecar;
      if (r.serviceAccount) inst.serviceAccount = r.serviceAccount;
      healthy.push(inst);
    }
    this.publish(healthy, known);
  }

  private persist(): void {
    if (!this.path) return;
    const path = this.path;
    const body = JSON.stringify([...this.entries.values()].map((e) => e.registration));
    this.persisting = this.persisting.then(async () => {
      await writeFile(`${path}.tmp`, body, { mode: 0o600 });
      await rename(`${path}.tmp`, path);
    });
  }
}
