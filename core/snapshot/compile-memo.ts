// What a compile round carries over to the next, reused where the inputs are the objects it was
// made from. Each service's outbound entry: an endpoint change of one service then compiles and
// serialises that service, not the mesh, and the delta between the two rounds finds the unchanged
// services by identity (Istio's push context keeps per-service state likewise). And what a
// proxy's own part is derived from its catalog entries (its labels, identity and workload shape),
// kept while its service's instance list is the same.
// Pure: the catalog and the resource store hand out the same objects for what did not change
// (catalog-view.ts, resource-store.ts); anything else is a miss, compiled again.
import type { ServiceInstance } from '../catalog-model.js';
import type { Resource } from '../resources/types.js';
import type { OutboundService, ProxySnapshot } from './types.js';

/** What a mesh service's outbound entry is made of, besides its name and the source group. */
export interface ServiceInputs {
  instances: readonly ServiceInstance[];
  dr: Resource | undefined;
  vs: Resource | undefined;
}

/** Hands back a service's entry: the one made from the same inputs in the round before, else `compile()`'s. */
export interface ServiceReuse {
  service(key: string, inputs: ServiceInputs, compile: () => OutboundService): OutboundService;
}

interface Entry extends ServiceInputs {
  service: OutboundService;
}

/** What compile() derives from a proxy's ref and its service's instance list (SnapshotCompiler.compile). */
export interface ProxyFacts {
  /** The service's instance list it was derived from: the facts hold while the catalog hands out this list. */
  serviceInstances: readonly ServiceInstance[] | undefined;
  labels: Record<string, string>;
  /** The instances that make its workload shape: its own entries, else its service's. */
  instances: ServiceInstance[];
  identity: ProxySnapshot['proxy'];
  identityJson: string;
  /** Its workload shape's key within a round. */
  shapeKey: string;
}

export class CompileMemo {
  /** By source group (everything of the proxy an entry depends on), by service key. */
  private readonly entries = new Map<string, Map<string, Entry>>();
  /** Each entry's JSON, made once: a reused entry keeps its string, so deltas compare it by identity. */
  private readonly json: WeakMap<OutboundService, string>;
  /** By the proxy's ref (the hub keeps one object per proxy until the proxy says something else). */
  readonly proxies: WeakMap<object, ProxyFacts>;
  private readonly previous: ReadonlyMap<string, ReadonlyMap<string, Entry>> | undefined;

  /** `previous`: the memo of the round before, on the same trust domain (a different one is not reused). */
  constructor(
    private readonly trustDomain: string,
    previous?: CompileMemo,
  ) {
    const usable = previous?.trustDomain === trustDomain ? previous : undefined;
    // Its entries, not the memo: a memo holding the one before would keep every round alive.
    this.previous = usable?.entries;
    this.json = usable?.json ?? new WeakMap();
    this.proxies = usable?.proxies ?? new WeakMap();
  }

  /** The reuse for one source group: `group` must name everything of the source an entry depends on. */
  scope(group: string): ServiceReuse {
    let mine = this.entries.get(group);
    if (!mine) this.entries.set(group, (mine = new Map()));
    const own = mine;
    const before = this.previous?.get(group);
    return {
      service: (key, inputs, compile) => {
        const held = before?.get(key) ?? own.get(key);
        const entry = held && sameInputs(held, inputs) ? held : { ...inputs, service: compile() };
        own.set(key, entry);
        return entry.service;
      },
    };
  }

  /** JSON.stringify(service), once per entry. */
  jsonOf(service: OutboundService): string {
    let text = this.json.get(service);
    if (text === undefined) this.json.set(service, (text = JSON.stringify(service)));
    return text;
  }
}

function sameInputs(a: ServiceInputs, b: ServiceInputs): boolean {
  if (a.dr !== b.dr || a.vs !== b.vs) return false;
  if (a.instances === b.instances) return true;
  if (a.instances.length !== b.instances.length) return false;
  for (let i = 0; i < a.instances.length; i++) if (a.instances[i] !== b.instances[i]) return false;
  return true;
}
