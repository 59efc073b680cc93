// Instances this controller's Consul agent holds that were registered again on another node. A
// host agent whose controller stopped answering registers its instances again through the next
// one (agent/registration-holder.ts), while the first controller's Consul agent, alive when only
// the controller process died or came back, still holds the old copy: a second entry that stays
// passing while the workload runs, outlives the instance's deregistration through the new
// controller (routed to while the workload stops, critical for Consul's ten minutes after), and
// that only this node's agent can remove (a catalog deregistration is undone by the agent's
// anti-entropy). So each controller gives up its copies once a newer one lives elsewhere and
// passes its checks. A newer copy that does not pass yet supersedes nothing: a Consul agent that
// left and comes back registers what it held again (a newer ModifyIndex, measured on Consul
// 1.8.7) with its checks critical until they run, and its controller may be gone for good; the
// copy that passes is the one that serves.
import type Consul from 'consul';
import { META } from '../../core/catalog-model.js';

/** What of one of Consul's health entries (any check state) decides whether a copy moved. */
export interface HeldEntry {
  Node: { Node: string };
  Service: { ID: string; ModifyIndex?: number; Meta?: Record<string, string> | null };
  /** The node's checks and the instance's, as Consul's health endpoint lists them. */
  Checks?: readonly { Status: string }[];
}

/**
 * The ids of mesh instances `ownNode` holds while another node holds a newer registration of the
 * same id (Consul's ModifyIndex) whose checks all pass. Other services on the node are their
 * owners' business.
 */
export function supersededOn(ownNode: string, entries: readonly HeldEntry[]): string[] {
  const newestElsewhere = new Map<string, number>();
  for (const e of entries) {
    if (e.Node.Node === ownNode || !passes(e)) continue;
    const index = e.Service.ModifyIndex ?? 0;
    if (index > (newestElsewhere.get(e.Service.ID) ?? -1)) newestElsewhere.set(e.Service.ID, index);
  }
  const ids: string[] = [];
  for (const e of entries) {
    if (e.Node.Node !== ownNode || !e.Service.Meta?.[META.namespace]) continue;
    const elsewhere = newestElsewhere.get(e.Service.ID);
    if (elsewhere !== undefined && elsewhere > (e.Service.ModifyIndex ?? 0)) ids.push(e.Service.ID);
  }
  return ids;
}

/** As Consul's `passing` filter: every check of the entry (the node's too) passes. */
export function passes(e: Pick<HeldEntry, 'Checks'>): boolean {
  return (e.Checks ?? []).every((c) => c.Status === 'passing');
}

/** Deregisters superseded copies from this controller's own Consul agent, each once at a time; a failure is tried again at the service's next answer. */
export class MovedRegistrations {
  private readonly inFlight = new Set<string>();

  constructor(
    private readonly consul: Consul,
    private readonly ownNode: string,
    private readonly onRemoved: (id: string) => void,
    private readonly onError: (id: string, err: Error) => void,
  ) {}

  consider(entries: readonly HeldEntry[]): void {
    for (const id of supersededOn(this.ownNode, entries)) {
      if (this.inFlight.has(id)) continue;
      this.inFlight.add(id);
      this.consul.agent.service
        .deregister(id)
        .then(
          () => this.onRemoved(id),
          (err: Error) => this.onError(id, err),
        )
        .finally(() => this.inFlight.delete(id));
    }
  }
}
