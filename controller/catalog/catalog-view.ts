// The part every Catalog shares: the in-memory view served by endpoints() and the change
// notifications. Implementations feed it the instances they know.
import { EventEmitter } from 'node:events';
import type { ServiceInstance } from '../../core/catalog-model.js';

export abstract class CatalogView {
  private view: ReadonlyMap<string, ServiceInstance[]> = new Map();
  private readonly events = new EventEmitter();

  constructor() {
    this.events.setMaxListeners(0);
  }

  endpoints(): ReadonlyMap<string, ServiceInstance[]> {
    return this.view;
  }

  onChange(listener: () => void): () => void {
    this.events.on('change', listener);
    return () => this.events.off('change', listener);
  }

  /**
   * Replaces the view with these healthy instances. `knownServices` (`namespace/name`) stay listed
   * with no instance when none passes: proxies then answer 503, not "unknown host".
   */
  protected publish(healthy: Iterable<ServiceInstance>, knownServices: Iterable<string> = []): void {
    const view = new Map<string, ServiceInstance[]>();
    for (const key of knownServices) view.set(key, []);
    for (const inst of healthy) {
      const key = `${inst.namespace}/${inst.service}`;
      const list = view.get(key);
      if (list) list.push(inst);
      else view.set(key, [inst]);
    }
    for (const list of view.values()) list.sort(byId);
    this.view = view;
    this.events.emit('change');
  }

  /**
   * Replaces one service's instances (`namespace/name`), leaving the others as they are: a change
   * costs that service's instances, not the catalog's. `known`: listed even with no instance.
   */
  protected publishService(key: string, healthy: ServiceInstance[], known: boolean): void {
    this.replaceServices([[key, healthy.length === 0 && !known ? undefined : healthy]]);
  }

  /**
   * Replaces several services at once (`namespace/name` -> instances; undefined removes it), with
   * one change notification: what a catalog that learns a service at a time feeds in.
   */
  protected replaceServices(changes: Iterable<[string, ServiceInstance[] | undefined]>): void {
    const view = new Map(this.view);
    for (const [key, healthy] of changes) {
      if (healthy === undefined) view.delete(key);
      else view.set(key, [...healthy].sort(byId));
    }
    this.view = view;
    this.events.emit('change');
  }

  protected stopNotifying(): void {
    this.events.removeAllListeners();
  }
}

/** The order of instances in the view: by id, so that equal catalogs compile to equal snapshots. */
export const byId = (a: ServiceInstance, b: ServiceInstance): number => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
