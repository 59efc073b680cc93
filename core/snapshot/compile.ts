// Compiles resources plus catalog into one snapshot per proxy. A compiler instance is one
// compile round: the outbound part is shared by every proxy with the same namespace and source
// labels, and everything but the proxy's identity by the proxies of one workload shape (the
// replicas of a version), so each is built, serialised and hashed once per round, not per proxy.
import type { ExtAuthzHttpProvider } from '../mesh-config.js';
import * as crypto from 'node:crypto';
import type { ServiceInstance } from '../catalog-model.js';
import type { Resource, VirtualServiceSpec } from '../resources/types.js';
import { compileInbound, INBOUND_KINDS, type Workload } from './compile-inbound.js';
import { compileOutbound, spiffeId } from './compile-outbound.js';
import { compileTelemetry } from './compile-telemetry.js';
import { sidecarFor } from './sidecar-scope.js';
import { compileGateway, refuseUnenforcedPolicies } from './compile-gateway.js';
import { SNAPSHOT_SCHEMA_VERSION, type GatewayConfig, type InboundConfig, type OutboundConfig, type ProxySnapshot, type TelemetryConfig } from './types.js';
import { keyedServices, type KeyedServices } from './delta.js';
import { CompileMemo, type ProxyFacts } from './compile-memo.js';

export interface CompileContext {
  resources: Resource[];
  /**
   * Healthy instances by `namespace/name`. A service whose instances changed gets a new list; an
   * unchanged one keeps its list, and lists and instances are never changed in place: the next
   * round reuses what it made of the same objects (compile-memo.ts).
   */
  services: ReadonlyMap<string, ServiceInstance[]>;
  trustDomain: string;
  /** Policies in this namespace apply mesh-wide (Istio's root namespace). */
  rootNamespace: string;
  trustBundle: string[];
  /** External authorizers (MeshConfig extensionProviders) that AuthorizationPolicy CUSTOM names. */
  extensionProviders?: readonly ExtAuthzHttpProvider[];
}

export interface ProxyRef {
  /** Instance id the proxy fronts (its catalog registration), or any stable id. */
  id: string;
  service: string;
  namespace: string;
  /** The service account its certificate names (the workload's own word, from its certificate); absent: its catalog registration's, else the service name. */
  serviceAccount?: string;
  /** Labels when the instance is not (yet) in the catalog. */
  labels?: Record<string, string>;
  /** A gateway proxy (mesh-proxy --gateway): its snapshot carries the Gateways that select it. */
  gateway?: boolean;
}

export interface CompiledSnapshot {
  snapshot: ProxySnapshot;
  /**
   * The snapshot as JSON, in pieces to be written one after another: the opening with the version;
   * the proxy's identity and inbound policy (which most changes leave as they were); the outbound
   * config, shared by every proxy with the same source key, so 500 proxies do not hold 500 copies;
   * and the rest (gateway, telemetry, trust bundle).
   */
  jsonParts: [opening: string, proxy: string, outbound: string, rest: string];
  /** The outbound piece (jsonParts[2]) as compiled, shared by the proxies of its source key: the base of incremental pushes (delta.ts). */
  outbound: OutboundPiece;
}

/** One compiled outbound config, its JSON and hash, and its services as keyed JSON pieces (given, or made on first use). */
export class OutboundPiece {
  constructor(
    readonly config: OutboundConfig,
    readonly json: string,
    readonly hash: string,
    /** null: the config cannot be sent as a delta; undefined: not made yet. */
    private keyedCache?: KeyedServices | null,
  ) {}

  private byteCount: number | undefined;

  /** The JSON's size in bytes, counted once. */
  bytes(): number {
    return (this.byteCount ??= Buffer.byteLength(this.json));
  }

  /** Undefined when the config cannot be sent as a delta (keyedServices). */
  keyed(): KeyedServices | undefined {
    if (this.keyedCache === undefined) this.keyedCache = keyedServices(this.config) ?? null;
    return this.keyedCache ?? undefined;
  }
}

/** crypto.hash (Node 20.12 and later) takes half the time of createHash for the short strings hashed per proxy. */
const oneShot = (crypto as { hash?: (algorithm: string, data: string) => string }).hash;
const hash = (s: string): string => (oneShot ? oneShot('sha256', s) : crypto.createHash('sha256').update(s).digest('hex'));

/**
 * JSON.stringify(config), joined from the per-service pieces the deltas need (delta.ts), so that
 * a round serialises its services once, not twice. The same text: an array's JSON is its
 * elements' joined by commas.
 */
function outboundJson(config: OutboundConfig, keyed: KeyedServices): string {
  const head = JSON.stringify({ ...config, services: [] });
  return head.replace('"services":[]', () => `"services":[${keyed.keys.map((k) => keyed.json.get(k)).join(',')}]`);
}

/** What the proxies of one workload shape share in a round (SnapshotCompiler.workloadPart). */
interface WorkloadPart {
  inbound: InboundConfig;
  inboundJson: string;
  outbound: OutboundPiece;
  gateway?: GatewayConfig;
  telemetry?: TelemetryConfig;
  /** The JSON after the outbound config: gateway, telemetry, trust bundle, the closing brace. */
  restJson: string;
  /** Of everything above. */
  hash: string;
}

export class SnapshotCompiler {
  private readonly outboundCache = new Map<string, OutboundPiece>();
  private readonly workloadParts = new Map<string, WorkloadPart>();
  /** By service (`namespace/name`), its instances by id. */
  private readonly byInstance = new Map<string, Map<string, ServiceInstance[]>>();
  private readonly bundleJson: string;
  /** Label keys that some route's sourceLabels match on; only these make outbound configs differ. */
  private readonly sourceLabelKeys: string[];
  /**
   * The resources each per-workload compile reads, by what reads them: each scans its list by
   * kind for every workload shape, and scanning every resource (2,000 at 1,000 services) for each
   * was a tenth of a round.
   */
  private readonly inboundResources: Resource[];
  private readonly telemetryResources: Resource[];
  private readonly sidecarResources: Resource[];
  /** What this round made (outbound entries, proxies' facts, shapes' policies): the next round's compiler reuses what did not change. */
  readonly memo: CompileMemo;

  /** `previous`: the memo of the round before (what it made of the same inputs is reused). */
  constructor(
    private readonly ctx: CompileContext,
    previous?: CompileMemo,
  ) {
    this.memo = new CompileMemo(ctx.trustDomain, previous);
    this.bundleJson = JSON.stringify(ctx.trustBundle);
    this.inboundResources = ctx.resources.filter((r) => INBOUND_KINDS.has(r.kind));
    this.telemetryResources = ctx.resources.filter((r) => r.kind === 'Telemetry');
    this.sidecarResources = ctx.resources.filter((r) => r.kind === 'Sidecar');
    const keys = new Set<string>();
    for (const r of ctx.resources) {
      if (r.kind !== 'VirtualService') continue;
      const spec = r.spec as VirtualServiceSpec;
      for (const m of [...(spec.http ?? []).flatMap((h) => h.match ?? []), ...(spec.tcp ?? []).flatMap((t) => t.match ?? [])]) {
        for (const k of Object.keys(m.sourceLabels ?? {})) keys.add(k);
      }
    }
    this.sourceLabelKeys = [...keys].sort();
    // Everything a shape's policies are made of besides the shape (workloadPart).
    this.memo.policiesMadeOf([...this.inboundResources, ...this.telemetryResources, ctx.rootNamespace, ctx.extensionProviders]);
  }

  compile(proxy: ProxyRef): CompiledSnapshot {
    const facts = this.factsOf(proxy);
    const { identity, identityJson, labels, instances, shapeKey } = facts;
    const part = this.workloadPart(shapeKey, { namespace: proxy.namespace, labels, instances }, proxy.gateway === true);
    if (facts.proxyPiece?.inboundJson !== part.inboundJson) facts.proxyPiece = { inboundJson: part.inboundJson, text: `"proxy":${identityJson},"inbound":${part.inboundJson},"outbound":` };
    // The identity and a hash of the rest (hashed once per workload shape): a short string per proxy.
    const version = hash(`${SNAPSHOT_SCHEMA_VERSION}|${identityJson}|${part.hash}`).slice(0, 16);
    const jsonParts: CompiledSnapshot['jsonParts'] = [`{"schemaVersion":${SNAPSHOT_SCHEMA_VERSION},"version":"${version}",`, facts.proxyPiece.text, part.outbound.json, part.restJson];
    return {
      snapshot: {
        schemaVersion: SNAPSHOT_SCHEMA_VERSION,
        version,
        proxy: identity,
        inbound: part.inbound,
        outbound: part.outbound.config,
        ...(part.gateway ? { gateway: part.gateway } : {}),
        ...(part.telemetry ? { telemetry: part.telemetry } : {}),
        trustBundle: this.ctx.trustBundle,
      },
      jsonParts,
      outbound: part.outbound,
    };
  }

  /**
   * What the proxy's own part is made of: the round before's, while its service's instance list is
   * the one it was derived from (a push compiles every proxy; deriving these again for each was a
   * fifth of a round).
   */
  private factsOf(proxy: ProxyRef): ProxyFacts {
    const serviceInstances = this.ctx.services.get(`${proxy.namespace}/${proxy.service}`);
    const held = this.memo.proxies.get(proxy);
    if (held && held.serviceInstances === serviceInstances) return held;
    const mine = this.instancesOf(proxy);
    // Not (yet) in the catalog: its service's instances stand for it.
    const instances = mine.length > 0 ? mine : (serviceInstances ?? []);
    const labels = { ...(proxy.labels ?? {}), ...(mine[0]?.labels ?? {}), app: proxy.service, service: proxy.service };
    const identity = {
      id: proxy.id,
      service: proxy.service,
      namespace: proxy.namespace,
      identity: spiffeId(this.ctx.trustDomain, proxy.namespace, proxy.serviceAccount ?? mine[0]?.serviceAccount ?? proxy.service),
      trustDomain: this.ctx.trustDomain,
      labels,
    };
    const ports = instances.map((i) => `${i.port}/${i.protocol ?? ''}`).join(',');
    const shapeKey = `${proxy.gateway === true ? 'gateway' : 'sidecar'}|${proxy.namespace}|${ports}|${JSON.stringify(labels)}`;
    const facts = { serviceInstances, labels, instances, identity, identityJson: JSON.stringify(identity), shapeKey };
    this.memo.proxies.set(proxy, facts);
    return facts;
  }

  /**
   * The proxy's own catalog entries (all ports of its instance). Its service's instances are
   * indexed by id once per round: a push compiles every proxy, and filtering them for each was a
   * tenth of it (indexing the whole catalog at once cost more: a new proxy's first compile after
   * every registration built it again).
   */
  private instancesOf(proxy: ProxyRef): ServiceInstance[] {
    const key = `${proxy.namespace}/${proxy.service}`;
    let ids = this.byInstance.get(key);
    if (!ids) {
      ids = new Map();
      for (const i of this.ctx.services.get(key) ?? []) {
        const found = ids.get(i.id);
        if (found) found.push(i);
        else ids.set(i.id, [i]);
      }
      this.byInstance.set(key, ids);
    }
    return ids.get(proxy.id) ?? [];
  }

  /**
   * All of a snapshot but the proxy's identity, shared by the proxies of one workload shape
   * (namespace, labels, ports, gateway or not) within a round: ten replicas of a service compile
   * their policies, serialise them and hash them once, not ten times.
   */
  private workloadPart(key: string, workload: Workload, gateway: boolean): WorkloadPart {
    let part = this.workloadParts.get(key);
    if (part) return part;
    const outbound = this.outboundFor(workload, gateway);
    const { inbound, inboundJson, telemetry, telemetryJson } = this.memo.shapePolicy(key, () => {
      const inbound = compileInbound(this.inboundResources, workload, this.ctx.rootNamespace, this.ctx.extensionProviders);
      const telemetry = compileTelemetry(this.telemetryResources, workload, this.ctx.rootNamespace);
      return { inbound, inboundJson: JSON.stringify(inbound), ...(telemetry ? { telemetry } : {}), telemetryJson: telemetry ? JSON.stringify(telemetry) : '' };
    });
    const gatewayConfig = gateway ? refuseUnenforcedPolicies(compileGateway(this.ctx.resources, workload), inbound, workload.namespace) : undefined;
    const gatewayJson = gatewayConfig ? JSON.stringify(gatewayConfig) : '';
    part = {
      inbound,
      inboundJson,
      outbound,
      ...(gatewayConfig ? { gateway: gatewayConfig } : {}),
      ...(telemetry ? { telemetry } : {}),
      restJson: `${gatewayConfig ? `,"gateway":${gatewayJson}` : ''}${telemetry ? `,"telemetry":${telemetryJson}` : ''},"trustBundle":${this.bundleJson}}`,
      hash: hash(`${inboundJson}|${outbound.hash}|${gatewayConfig ? `${gatewayJson}|` : ''}${telemetry ? `${telemetryJson}|` : ''}${this.bundleJson}`),
    };
    this.workloadParts.set(key, part);
    return part;
  }

  private outboundFor(source: { namespace: string; labels: Record<string, string> }, gateway: boolean) {
    // Istio's Sidecar scopes a sidecar's services; a gateway routes to whatever its VirtualServices name.
    const sidecar = gateway ? undefined : sidecarFor(this.sidecarResources, source, this.ctx.rootNamespace);
    // Proxies of one namespace (short names resolve in it), under one Sidecar, that no source-label route tells apart share one outbound config.
    const key = `${source.namespace}|${sidecar ? `${sidecar.metadata.namespace}/${sidecar.metadata.name}` : '-'}|${JSON.stringify(this.sourceLabelKeys.map((k) => source.labels[k] ?? null))}`;
    let entry = this.outboundCache.get(key);
    if (!entry) {
      // The entries depend on the source through this key only; with the label keys in it, a key means the same source in every round.
      const reuse = this.memo.scope(`${this.sourceLabelKeys.join(',')}#${key}`);
      const config = compileOutbound({ resources: this.ctx.resources, services: this.ctx.services, trustDomain: this.ctx.trustDomain }, { ...source, ...(sidecar ? { sidecar } : {}) }, reuse);
      const keyed = keyedServices(config, (s) => this.memo.jsonOf(s));
      const json = keyed ? outboundJson(config, keyed) : JSON.stringify(config);
      entry = new OutboundPiece(config, json, hash(json), keyed ?? null);
      this.outboundCache.set(key, entry);
    }
    return entry;
  }
}
