// Catalog on Consul: blocking queries on the service list and on each service's passing
// instances. While Consul is unreachable the last known endpoints keep being served, the
// catalog reports itself unhealthy, and the client library's watches retry with backoff.
import Consul from 'consul';
import { instanceFromMeta, type InstanceRegistration, type ServiceInstance } from '../../core/catalog-model.js';
import type { Catalog } from './catalog.js';
import { byId, CatalogView } from './catalog-view.js';
import { ConsulAgentRegistrar } from '../../common/consul-registration.js';
import { blockingWait } from '../consul/blocking-wait.js';
import { ConsulLiveness } from '../consul/liveness.js';
import { MovedRegistrations, passes } from '../consul/moved-registrations.js';

interface HealthEntry {
  Node: { Node: string; Address: string };
  Service: { ID: string; Service: string; Address: string; Port: number; Meta: Record<string, string> | null; ModifyIndex?: number };
  Checks?: { Status: string }[];
}

type ConsulWatch = ReturnType<Consul['watch']>;

const WATCH_BACKOFF = { backoffFactor: 100, backoffMax: 5000 };

/** Connections a controller holds on its Consul agent besides one per service: the service list, KV and leadership watches, liveness, writes, and up to 8 idle (controller.ts). */
export const OTHER_CONNECTIONS = 16;

/**
 * A blocking query holds a connection, and Consul's agents accept at most
 * limits.http_max_conns_per_client (200 by default) from one address: past it, new ones are
 * closed at once, watches fail, and the catalog looks unreachable. Says so, with the number to set.
 */
export function connectionBudgetProblem(services: number, limit: number | undefined): string | undefined {
  const needed = services + OTHER_CONNECTIONS;
  if (limit === undefined || limit <= 0 || needed <= limit) return undefined;
  return `watching ${services} services takes ${needed} connections to the Consul agent, which allows ${limit} per client (limits.http_max_conns_per_client); raise it to at least ${recommendedConnectionLimit(services)} on the agent this controller uses`;
}

/** limits.http_max_conns_per_client for a controller's agent: half again what it holds, for growth, in hundreds. */
export function recommendedConnectionLimit(services: number): number {
  return Math.ceil(((services + OTHER_CONNECTIONS) * 1.5) / 100) * 100;
}

export class ConsulCatalog extends CatalogView implements Catalog {
  private readonly serviceWatches = new Map<string, ConsulWatch>();
  /** Consul service name -> its passing instances. */
  private readonly byConsulName = new Map<string, ServiceInstance[]>();
  /** Namespace last seen for a Consul service, so that it stays listed when no instance passes. */
  private readonly namespaceOf = new Map<string, string>();
  private listWatch: ConsulWatch | undefined;
  private closed = false;
  private readonly liveness: ConsulLiveness;
  private readonly ownsLiveness: boolean;

  private readonly registrar: ConsulAgentRegistrar;
  /** The agent's limits.http_max_conns_per_client, once read. */
  private connectionLimit: number | undefined;
  private budgetProblem: string | undefined;
  /** Set once the agent named its node: copies held here that were registered again elsewhere. */
  private moved: MovedRegistrations | undefined;

  constructor(
    private readonly consul: Consul,
    liveness?: ConsulLiveness,
    private readonly onWarning: (message: string) => void = () => undefined,
    private readonly onNotice: (message: string) => void = () => undefined,
  ) {
    super();
    this.registrar = new ConsulAgentRegistrar(consul);
    this.ownsLiveness = !liveness;
    this.liveness = liveness ?? new ConsulLiveness(consul);
  }

  async start(): Promise<void> {
    this.liveness.start();
    const self = (await this.consul.agent.self().catch(() => undefined)) as { DebugConfig?: { HTTPMaxConnsPerClient?: number }; Config?: { NodeName?: string } } | undefined;
    this.connectionLimit = self?.DebugConfig?.HTTPMaxConnsPerClient;
    const node = self?.Config?.NodeName;
    if (node)
      this.moved = new MovedRegistrations(
        this.consul,
        node,
        (id) => this.onNotice(`instance ${id} was registered again on another Consul node; this controller's agent (node ${node}) no longer holds its older copy`),
        (id, err) => this.onWarning(`could not remove the older copy of instance ${id} from this controller's Consul agent (node ${node}): ${err.message}`),
      );
    // Consul came back: start the blocking queries afresh instead of waiting out old indexes.
    this.liveness.on('up', () => {
      if (this.closed) return;
      this.endWatches();
      void this.watchServiceList();
    });
    await this.watchServiceList();
  }

  /** Resolves on the first answer, so a controller starts with a full catalog; a Consul that is down does not stop the start. */
  private watchServiceList(): Promise<void> {
    return new Promise<void>((resolve) => {
      const w = this.consul.watch({ method: this.consul.catalog.service.list, options: { wait: blockingWait() }, ...WATCH_BACKOFF });
      this.listWatch = w;
      const timer = setTimeout(resolve, 3000);
      w.on('change', (services: Record<string, string[]>) => {
        this.syncServiceWatches(Object.keys(services).filter((s) => s !== 'consul'));
        clearTimeout(timer);
        resolve();
      });
      w.on('error', () => this.liveness.suspect());
    });
  }

  private endWatches(): void {
    this.listWatch?.end();
    for (const w of this.serviceWatches.values()) w.end();
    this.serviceWatches.clear();
  }

  register(registration: InstanceRegistration): Promise<void> {
    return this.registrar.register(registration);
  }

  deregister(instanceId: string): Promise<void> {
    return this.registrar.deregister(instanceId);
  }

  healthy(): boolean {
    return this.liveness.healthy();
  }

  warning(): string | undefined {
    return this.budgetProblem;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.endWatches();
    if (this.ownsLiveness) this.liveness.close();
    this.stopNotifying();
  }

  private syncServiceWatches(names: string[]): void {
    if (this.closed) return;
    const wanted = new Set(names);
    const problem = connectionBudgetProblem(wanted.size, this.connectionLimit);
    if (problem && !this.budgetProblem) this.onWarning(problem);
    this.budgetProblem = problem;
    const gone: [string, undefined][] = [];
    for (const [name, w] of this.serviceWatches) {
      if (wanted.has(name)) continue;
      w.end();
      this.serviceWatches.delete(name);
      for (const key of this.keysOf(name)) gone.push([key, undefined]);
      this.byConsulName.delete(name);
      this.namespaceOf.delete(name);
    }
    for (const name of wanted) {
      if (this.serviceWatches.has(name)) continue;
      // Every entry, not only passing ones (Consul wakes the query for the same changes either
      // way): a copy held here that moved elsewhere may be critical already.
      const w = this.consul.watch({ method: this.consul.health.service, options: { service: name, wait: blockingWait() } as unknown as Record<string, string>, ...WATCH_BACKOFF });
      w.on('change', (entries: HealthEntry[]) => {
        this.moved?.consider(entries);
        this.update(name, newestPerId(entries.filter(passes)).map(toInstance));
      });
      w.on('error', () => this.liveness.suspect());
      this.serviceWatches.set(name, w);
    }
    if (gone.length > 0) this.replaceServices(gone);
  }

  /**
   * One Consul service's passing instances, as its blocking query answered: only that service's
   * entries of the view change (a catalog of 10,000 instances is not regrouped for each), and an
   * answer with nothing new changes nothing. The service stays listed (with no instance) under the
   * namespace it last had.
   */
  private update(name: string, instances: ServiceInstance[]): void {
    const list = [...instances].sort(byId);
    const held = this.byConsulName.get(name);
    if (held && JSON.stringify(held) === JSON.stringify(list)) return;
    const before = this.keysOf(name);
    this.byConsulName.set(name, list);
    if (list.length > 0) this.namespaceOf.set(name, list[0].namespace);
    const groups = new Map<string, ServiceInstance[] | undefined>([[`${this.namespaceOf.get(name) ?? 'default'}/${name}`, []]]);
    for (const inst of list) {
      const key = `${inst.namespace}/${name}`;
      const group = groups.get(key);
      if (group) group.push(inst);
      else groups.set(key, [inst]);
    }
    for (const key of before) if (!groups.has(key)) groups.set(key, undefined);
    this.replaceServices(groups);
  }

  /** The view's keys (`namespace/name`) a Consul service fills: its own namespace's, listed even with no instance, and each instance's; none before its first answer. */
  private keysOf(name: string): string[] {
    const held = this.byConsulName.get(name);
    if (!held) return [];
    return [...new Set([`${this.namespaceOf.get(name) ?? 'default'}/${name}`, ...held.map((i) => `${i.namespace}/${name}`)])];
  }
}

/**
 * One entry per instance id: an instance registered again through another controller (its host
 * agent failed over) is held by two Consul agents, on two nodes, until the first forgets it; the
 * newest registration is the one that counts, and an instance counted twice would get twice its
 * share of the traffic.
 */
function newestPerId(entries: readonly HealthEntry[]): HealthEntry[] {
  const newest = new Map<string, HealthEntry>();
  for (const e of entries) {
    const held = newest.get(e.Service.ID);
    if (!held || (e.Service.ModifyIndex ?? 0) > (held.Service.ModifyIndex ?? 0)) newest.set(e.Service.ID, e);
  }
  return [...newest.values()];
}

function toInstance(e: HealthEntry): ServiceInstance {
  return instanceFromMeta({ id: e.Service.ID, service: e.Service.Service, address: e.Service.Address || e.Node.Address, port: e.Service.Port, healthy: true }, e.Service.Meta ?? undefined);
}
