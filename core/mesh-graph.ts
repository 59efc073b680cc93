// The mesh as a graph for the web UI: a node per service (its instances, versions and how many of
// its proxies hold their current snapshot) and an edge per caller and callee with the traffic the
// proxies reported (rate, error rate, p99, share over mTLS). Pure.
import type { ServiceInstance } from './catalog-model.js';
import type { TrafficSummary } from './telemetry.js';

export interface GraphNode {
  /** `namespace/name`, or `unknown` (callers from outside the mesh), as edges name them. */
  id: string;
  name: string;
  namespace: string;
  instances: number;
  versions: string[];
  /** Instances fronted by a sidecar, and how many of those sidecars are SYNCED. */
  sidecars: number;
  synced: number;
  /** Named by traffic only: not in the catalog (callers from outside, or a host outside the mesh). */
  outside: boolean;
}

export type EdgeTraffic = TrafficSummary & { source: string; destination: string; mtlsShare: number | null };

export interface MeshGraph {
  nodes: GraphNode[];
  edges: EdgeTraffic[];
}

export function meshGraph(services: ReadonlyMap<string, readonly ServiceInstance[]>, proxyStatus: ReadonlyMap<string, string>, edges: readonly EdgeTraffic[]): MeshGraph {
  const nodes = new Map<string, GraphNode>();
  for (const [id, list] of services) {
    const [namespace, name] = id.split('/');
    const withSidecar = list.filter((i) => i.sidecar);
    nodes.set(id, {
      id,
      name,
      namespace,
      instances: list.length,
      versions: [...new Set(list.map((i) => i.labels.version).filter((v): v is string => Boolean(v)))].sort(),
      sidecars: withSidecar.length,
      synced: withSidecar.filter((i) => proxyStatus.get(i.id) === 'SYNCED').length,
      outside: false,
    });
  }
  for (const e of edges)
    for (const id of [e.source, e.destination])
      if (!nodes.has(id)) {
        const [namespace, name] = id.includes('/') ? id.split('/') : ['', id];
        nodes.set(id, { id, name, namespace, instances: 0, versions: [], sidecars: 0, synced: 0, outside: true });
      }
  return { nodes: [...nodes.values()].sort((a, b) => a.id.localeCompare(b.id)), edges: [...edges].sort((a, b) => `${a.source} ${a.destination}`.localeCompare(`${b.source} ${b.destination}`)) };
}
