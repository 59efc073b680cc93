// Incremental snapshots, as Envoy's incremental xDS sends resources: a proxy that holds version
// V is sent, of its outbound services (the part of a snapshot that grows with the mesh), only
// those that changed since V, the keys of those that went away, and the order of all of them
// only when it changed (a service came or went). An endpoint change of one service therefore
// costs that service's bytes, whatever the size of the mesh. The rest of a snapshot (identity,
// inbound policy, gateway, trust bundle) is per proxy and is sent whole. Pure.
import type { OutboundConfig, OutboundService } from './types.js';

/** What replaces `outbound` in a snapshot sent as a delta against `base`. */
export interface OutboundDelta {
  /** The version the proxy holds, which the delta applies to. */
  base: string;
  /** Services new or changed since `base`, whole. */
  upsert: OutboundService[];
  /** Keys (serviceKey) of services gone since `base`. */
  remove: string[];
  /** Every key in the new order; absent: the order of `base`, with upserts in place. */
  order?: string[];
}

/** A service's identity within a snapshot: kind, namespace and name. */
export function serviceKey(s: Pick<OutboundService, 'external' | 'namespace' | 'name'>): string {
  return `${s.external ? 'external' : 'mesh'}/${s.namespace}/${s.name}`;
}

/** An outbound config as keyed JSON pieces, for diffing without parsing. */
export interface KeyedServices {
  keys: string[];
  json: Map<string, string>;
}

/**
 * Undefined when two services share a key (two ServiceEntries of one host in one namespace): such
 * a config is only ever sent whole. `stringify`: a service's JSON (a compiler's memo hands back the
 * string it made of the same service before).
 */
export function keyedServices(config: OutboundConfig, stringify: (s: OutboundService) => string = (s) => JSON.stringify(s)): KeyedServices | undefined {
  const keys: string[] = [];
  const json = new Map<string, string>();
  for (const s of config.services) {
    const key = serviceKey(s);
    if (json.has(key)) return undefined;
    keys.push(key);
    json.set(key, stringify(s));
  }
  return { keys, json };
}

/**
 * What changed from `base` to `next`, as the JSON members of a delta after `base` (upsert,
 * remove, and order when it changed). The same for every proxy of the two configs: made once.
 */
export function servicesDeltaJson(base: KeyedServices, next: KeyedServices): string {
  const upsert: string[] = [];
  for (const key of next.keys) {
    const j = next.json.get(key)!;
    if (base.json.get(key) !== j) upsert.push(j);
  }
  const remove = base.keys.filter((k) => !next.json.has(k));
  const sameOrder = remove.length === 0 && base.keys.length === next.keys.length && base.keys.every((k, i) => k === next.keys[i]);
  return `"upsert":[${upsert.join(',')}],"remove":${JSON.stringify(remove)}${sameOrder ? '' : `,"order":${JSON.stringify(next.keys)}`}`;
}

/** The value of `outbound` in a snapshot sent as a delta against the proxy's `baseVersion`. */
export function outboundDeltaJson(baseVersion: string, servicesDelta: string): string {
  const [open, close] = deltaEnvelope(baseVersion);
  return `${open}${servicesDelta}${close}`;
}

/** What goes before and after the services delta (servicesDeltaJson): the delta's own part, per proxy. */
export function deltaEnvelope(baseVersion: string): [string, string] {
  return [`{"delta":{"base":${JSON.stringify(baseVersion)},`, '}}'];
}

export function isOutboundDelta(outbound: unknown): outbound is { delta: OutboundDelta } {
  return typeof outbound === 'object' && outbound !== null && 'delta' in outbound;
}

/**
 * The outbound config a delta makes of the one held. Throws, naming what does not fit, when the
 * delta is not against `heldVersion` or names services the held config does not have: the proxy
 * then asks for the whole snapshot.
 */
export function applyOutboundDelta(held: OutboundConfig, heldVersion: string, delta: OutboundDelta): OutboundConfig {
  if (delta.base !== heldVersion) throw new Error(`the delta is against version ${delta.base}, the proxy holds ${heldVersion}`);
  const byKey = new Map(held.services.map((s) => [serviceKey(s), s]));
  const order = held.services.map(serviceKey);
  for (const key of delta.remove) {
    if (!byKey.delete(key)) throw new Error(`the delta removes "${key}", which the proxy does not hold`);
  }
  for (const s of delta.upsert) byKey.set(serviceKey(s), s);
  const keys = delta.order ?? order;
  if (new Set(keys).size !== keys.length) throw new Error("the delta's order names a service twice");
  if (!delta.order && delta.upsert.some((s) => !order.includes(serviceKey(s)))) throw new Error('the delta adds a service without saying where it goes');
  const services = keys.map((key) => {
    const s = byKey.get(key);
    if (!s) throw new Error(`the delta's order names "${key}", which is neither held nor sent`);
    return s;
  });
  if (services.length !== byKey.size) throw new Error('the delta leaves services out of its order');
  return { services };
}
