// What a compile round carries over to the next, reused where the inputs are the objects it was
// made from. Each service's outbound entry (of the catalog's services and the ServiceEntries' hosts): an endpoint change of one service then compiles and
// serialises that service, not the mesh, and the delta between the two rounds finds the unchanged
// services by identity (Istio's push context keeps per-service state likewise). And what a
// proxy's own part is derived from its catalog entries (its labels, identity and workload shape),
// kept while its service's instance list is the same. And each workload shape's inbound policy and
// telemetry, kept while the policy resources are the same.
// Pure: the catalog and the resource store hand out the same objects for what did not change
// (catalog-view.ts, resource-store.ts); anything else is a miss, compiled again.
import type { ServiceInstance } from '../catalog-model.js';
import type { Resource } from '../resources/types.js';
import type { InboundConfig, OutboundService, ProxySnapshot, TelemetryConfig } from './types.js';

/** What a service's outbound entry is made of, besides its key and the source group. */
export interface ServiceInputs {
  instances: readonly ServiceInstance[];
  dr: Resource | undefined;
  vs: Resource | undefined;
  /** The ServiceEntry it comes from (none for a service of the catalog). */
  entry?: Resource;
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
  /** Its identity-and-inbound piece of the snapshot JSON as last made, with the inbound JSON it was made of: the same string while both are (the push compresses it again only when it changes). */
  proxyPiece?: { inboundJson: string; text: string };
}

/** A workload shape's inbound policy and telemetry: made of the policy kinds and the shape only, not of the mesh's services. */
export interface ShapePolicy {
  inbound: InboundConfig;
  inboundJson: string;
  telemetry?: TelemetryConfig;
  telemetryJson: string;
}

export class CompileMemo {
  /** By source group (everything of the proxy an entry depends on), by service key. */
  private readonly entries = new Map<string, Map<string, Entry>>();
  /** Each entry's JSON, made once: a reused entry keeps its string, so deltas compare it by identity. */
  private readonly json: WeakMap<OutboundService, string>;
  /** By the proxy's ref (the hub keeps one object per proxy until the proxy says something else). */
  readonly proxies: WeakMap<object, ProxyFacts>;
  private readonly previous: ReadonlyMap<string, ReadonlyMap<string, Entry>> | undefined;
  /** By workload shape key: this round's policies, and what they are made of. */
  private readonly policies = new Map<string, ShapePolicy>();
  private policyInputs: readonly unknown[] = [];
  /** The round before's, and whether this round's inputs are the same (decided on first use). */
  private readonly previousPolicies: { inputs: readonly unknown[]; parts: ReadonlyMap<string, ShapePolicy> } | undefined;
  private reusePolicies: boolean | undefined;

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
    this.previousPolicies = usable ? { inputs: usable.policyInputs, parts: usable.policies } : undefined;
  }

  /** What this round's shape policies are made of (resources, settings): the round before's are reused when these are the same, in order. */
  policiesMadeOf(inputs: readonly unknown[]): void {
    this.policyInputs = inputs;
    this.reusePolicies = undefined;
  }

  /** A workload shape's policies: the round before's when made of the same inputs, else `compile()`'s. */
  shapePolicy(shapeKey: string, compile: () => ShapePolicy): ShapePolicy {
    let policy = this.policies.get(shapeKey);
    if (policy) return policy;
    const before = this.previousPolicies;
    this.reusePolicies ??= before !== undefined && sameList(before.inputs, this.policyInputs);
    policy = (this.reusePolicies ? before?.parts.get(shapeKey) : undefined) ?? compile();
    this.policies.set(shapeKey, policy);
    return policy;
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
  return a.dr === b.dr && a.vs === b.vs && a.entry === b.entry && sameList(a.instances, b.instances);
}

/** The same elements (by identity), in the same order. */
function sameList(a: readonly unknown[], b: readonly unknown[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
