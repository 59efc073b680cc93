// Istio-shaped resources on a KvStore. Reads are served from an in-memory copy kept current by a
// watch, so they keep answering while Consul is down and a second controller sees every change.
import { EventEmitter } from 'node:events';
import { MeshError } from '../../core/errors.js';
import { kindInfo } from '../../core/resources/kinds.js';
import type { Kind, Resource } from '../../core/resources/types.js';
import type { KvEntry, KvStore } from '../kv/kv-store.js';

const PREFIX = 'resources/';

export type ApplyAction = 'created' | 'updated' | 'unchanged';

export class ResourceStore {
  private cache = new Map<string, Resource>();
  private readonly events = new EventEmitter();
  private stopWatch: (() => void) | undefined;

  constructor(private readonly kv: KvStore) {
    this.events.setMaxListeners(0);
  }

  async start(): Promise<void> {
    this.load(await this.kv.list(PREFIX));
    this.stopWatch = this.kv.watch(PREFIX, (entries) => {
      if (this.load(entries)) this.events.emit('change');
    });
  }

  onChange(listener: () => void): () => void {
    this.events.on('change', listener);
    return () => this.events.off('change', listener);
  }

  list(filter: { kind?: Kind; namespace?: string } = {}): Resource[] {
    return [...this.cache.values()].filter((r) => (!filter.kind || r.kind === filter.kind) && (!filter.namespace || r.metadata.namespace === filter.namespace));
  }

  get(kind: Kind, namespace: string, name: string): Resource {
    const r = this.cache.get(keyOf(kind, namespace, name));
    if (!r) throw new MeshError('NOT_FOUND', `${kind} "${name}" not found in namespace "${namespace}"`);
    return r;
  }

  /** Creates; fails with CONFLICT if it exists. */
  async create(resource: Resource): Promise<Resource> {
    return this.write(resource, 0, new Date().toISOString());
  }

  /**
   * Updates an existing resource. With metadata.resourceVersion the write only happens if nobody
   * changed it since (else CONFLICT); without, it overwrites.
   */
  async update(resource: Resource): Promise<Resource> {
    const key = keyOf(resource.kind, resource.metadata.namespace, resource.metadata.name);
    const current = await this.kv.get(key);
    if (!current) throw new MeshError('NOT_FOUND', `${resource.kind} "${resource.metadata.name}" not found in namespace "${resource.metadata.namespace}"; create it first`);
    const expected = resource.metadata.resourceVersion !== undefined ? Number(resource.metadata.resourceVersion) : current.version;
    const created = (JSON.parse(current.value) as Resource).metadata.creationTimestamp;
    return this.write(resource, expected, created);
  }

  /** kubectl-apply semantics: create, or update (with the version check when one is given). */
  async apply(resource: Resource): Promise<{ resource: Resource; action: ApplyAction }> {
    const key = keyOf(resource.kind, resource.metadata.namespace, resource.metadata.name);
    const current = await this.kv.get(key);
    if (!current) return { resource: await this.create(resource), action: 'created' };
    const old = JSON.parse(current.value) as Resource;
    if (sameContent(old, resource)) return { resource: this.withVersion(old, current.version), action: 'unchanged' };
    return { resource: await this.update(resource), action: 'updated' };
  }

  async delete(kind: Kind, namespace: string, name: string, resourceVersion?: string): Promise<void> {
    const deleted = await this.kv.delete(keyOf(kind, namespace, name), resourceVersion !== undefined ? Number(resourceVersion) : undefined);
    if (!deleted) throw new MeshError('NOT_FOUND', `${kind} "${name}" not found in namespace "${namespace}"`);
    this.cache.delete(keyOf(kind, namespace, name));
    this.events.emit('change');
  }

  async close(): Promise<void> {
    this.stopWatch?.();
    this.events.removeAllListeners();
  }

  private async write(resource: Resource, expectedVersion: number, creationTimestamp: string | undefined): Promise<Resource> {
    const key = keyOf(resource.kind, resource.metadata.namespace, resource.metadata.name);
    const stored: Resource = { ...resource, apiVersion: kindInfo(resource.kind).storageVersion, metadata: { ...resource.metadata, creationTimestamp } };
    delete stored.metadata.resourceVersion;
    const version = await this.kv.put(key, JSON.stringify(stored), expectedVersion);
    const result = this.withVersion(stored, version);
    this.cache.set(key, result);
    this.events.emit('change');
    return result;
  }

  private withVersion(r: Resource, version: number): Resource {
    return { ...r, metadata: { ...r.metadata, resourceVersion: String(version) } };
  }

  /**
   * Replaces the cache from the store's contents; true if anything differs. A resource whose
   * version is the one held stays the object held: it is not parsed again (a change of one of
   * 2,000 resources parsed all of them), and the compiler reuses what it made of it
   * (compile-memo.ts).
   */
  private load(entries: KvEntry[]): boolean {
    const next = new Map<string, Resource>();
    for (const e of entries) {
      const held = this.cache.get(e.key);
      if (held && held.metadata.resourceVersion === String(e.version)) {
        next.set(e.key, held);
        continue;
      }
      try {
        next.set(e.key, this.withVersion(JSON.parse(e.value) as Resource, e.version));
      } catch {
        // A value someone wrote by hand into the KV store; it cannot be a resource.
      }
    }
    const changed = next.size !== this.cache.size || [...next].some(([k, r]) => this.cache.get(k)?.metadata.resourceVersion !== r.metadata.resourceVersion);
    this.cache = next;
    return changed;
  }
}

function keyOf(kind: Kind, namespace: string, name: string): string {
  return `${PREFIX}${kind}/${namespace}/${name}`;
}

function sameContent(a: Resource, b: Resource): boolean {
  const norm = (r: Resource) => JSON.stringify({ spec: r.spec, labels: r.metadata.labels ?? {}, annotations: r.metadata.annotations ?? {} });
  return norm(a) === norm(b);
}
