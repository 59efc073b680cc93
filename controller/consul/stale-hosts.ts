// Leader work: mesh instances held by hosts that are gone. A Consul agent reaps its own critical
// services (deregistercriticalserviceafter), but an agent whose host died reaps nothing, and
// Consul's servers keep a failed node's entries for 72 hours. Their health keeps them out of
// every snapshot; this clears them from the catalog once the host has been failed long enough.
import type Consul from 'consul';
import { META } from '../../core/catalog-model.js';

interface CheckEntry {
  Node: string;
  CheckID: string;
}

interface NodeServices {
  Services?: Record<string, { ID: string; Meta?: Record<string, string> | null }>;
}

export class StaleHostReaper {
  /** Node -> when this controller first saw its Serf health critical. */
  private readonly failedSince = new Map<string, number>();

  constructor(
    private readonly consul: Consul,
    private readonly afterMs: number,
  ) {}

  /** Deregisters the mesh instances of nodes failed for `afterMs`; returns their ids. */
  async sweep(now = Date.now()): Promise<string[]> {
    const critical = (await this.consul.health.state({ state: 'critical' } as never)) as CheckEntry[];
    const failed = new Set(critical.filter((c) => c.CheckID === 'serfHealth').map((c) => c.Node));
    for (const node of this.failedSince.keys()) if (!failed.has(node)) this.failedSince.delete(node);
    const removed: string[] = [];
    for (const node of failed) {
      const since = this.failedSince.get(node) ?? now;
      this.failedSince.set(node, since);
      if (now - since < this.afterMs) continue;
      const held = (await this.consul.catalog.node.services(node)) as NodeServices | null;
      for (const s of Object.values(held?.Services ?? {})) {
        // Only what the mesh registered: other services on that node are their owners' business.
        if (!s.Meta?.[META.namespace]) continue;
        await this.consul.catalog.deregister({ node, serviceid: s.ID } as never);
        removed.push(s.ID);
      }
    }
    return removed;
  }
}
