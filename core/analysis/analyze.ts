// Cross-resource checks, as `istioctl analyze` makes them: what each resource is valid on its
// own but wrong together with the others and the catalog. Each finding has a stable code, a
// level, the resource it is about and a sentence saying what to do. Pure.
import { serviceForHost, serviceKey } from '../hosts.js';
import type { ServiceInstance } from '../catalog-model.js';
import type { DestinationRuleSpec, Resource, ServiceEntrySpec, VirtualServiceSpec, WorkloadSelector } from '../resources/types.js';
import { selectorMatches } from '../snapshot/selectors.js';
import { boundGateways, boundToMesh } from '../snapshot/gateway-binding.js';

export type FindingLevel = 'Error' | 'Warning' | 'Info';

export interface Finding {
  /** Stable, for scripts: MSH01xx references, MSH02xx conflicts, MSH03xx security. */
  code: string;
  level: FindingLevel;
  /** `Kind namespace/name`. */
  resource: string;
  message: string;
}

export const FINDING_CODES = {
  SUBSET_NOT_FOUND: 'MSH0101',
  HOST_NOT_FOUND: 'MSH0102',
  SELECTOR_MATCHES_NOTHING: 'MSH0103',
  GATEWAY_NOT_FOUND: 'MSH0104',
  CONFLICTING_VIRTUAL_SERVICES: 'MSH0201',
  TLS_DISABLED_UNDER_STRICT: 'MSH0301',
} as const;

export interface AnalysisInput {
  resources: readonly Resource[];
  /** Healthy instances by `namespace/name`, as the catalog serves them. */
  services: ReadonlyMap<string, readonly ServiceInstance[]>;
  rootNamespace: string;
}

const name = (r: Resource) => `${r.kind} ${r.metadata.namespace}/${r.metadata.name}`;

export function analyze(input: AnalysisInput): Finding[] {
  const out: Finding[] = [];
  const of = <S>(kind: string) => input.resources.filter((r) => r.kind === kind) as Resource<S>[];
  const vss = of<VirtualServiceSpec>('VirtualService');
  const drs = of<DestinationRuleSpec>('DestinationRule');
  const entries = of<ServiceEntrySpec>('ServiceEntry');
  const externalHosts = new Set(entries.flatMap((se) => se.spec.hosts.map((h) => h.toLowerCase())));
  /** The catalog service (or ServiceEntry host) a host names, from a resource's namespace; undefined if none. */
  const target = (host: string, namespace: string): string | undefined => {
    if (host.includes('*')) return host;
    const ref = serviceForHost(host, namespace);
    if (ref && input.services.has(serviceKey(ref))) return serviceKey(ref);
    return externalHosts.has(host.toLowerCase()) ? `external/${host.toLowerCase()}` : undefined;
  };
  const drFor = (key: string) => drs.find((dr) => target(dr.spec.host, dr.metadata.namespace) === key);

  // Hosts that name nothing, and routes to subsets no DestinationRule defines.
  const gateways = new Set(of('Gateway').map((g) => `${g.metadata.namespace}/${g.metadata.name}`));
  for (const vs of vss) {
    const ns = vs.metadata.namespace;
    for (const g of boundGateways(vs)) {
      if (!gateways.has(g))
        out.push({
          code: FINDING_CODES.GATEWAY_NOT_FOUND,
          level: 'Error',
          resource: name(vs),
          message: `gateway "${g}" is not defined: no Gateway resource of that name, so these routes serve nowhere`,
        });
    }
    // A gateway's hosts are the names clients outside the mesh use, not catalog services.
    for (const host of boundToMesh(vs) ? vs.spec.hosts : []) {
      if (!target(host, ns)) out.push({ code: FINDING_CODES.HOST_NOT_FOUND, level: 'Warning', resource: name(vs), message: `host "${host}" names no service in the catalog and no ServiceEntry host` });
    }
    for (const route of vs.spec.http ?? []) {
      for (const d of route.route ?? []) {
        const key = target(d.destination.host, ns);
        if (!key) {
          out.push({
            code: FINDING_CODES.HOST_NOT_FOUND,
            level: 'Error',
            resource: name(vs),
            message: `destination host "${d.destination.host}" names no service in the catalog and no ServiceEntry host: requests there get 503`,
          });
          continue;
        }
        if (d.destination.subset && !drFor(key)?.spec.subsets?.some((s) => s.name === d.destination.subset)) {
          out.push({
            code: FINDING_CODES.SUBSET_NOT_FOUND,
            level: 'Error',
            resource: name(vs),
            message: `subset "${d.destination.subset}" of "${d.destination.host}" is defined by no DestinationRule: requests there get 503 NC; add it to a DestinationRule for that host`,
          });
        }
      }
    }
  }
  for (const dr of drs) {
    if (!target(dr.spec.host, dr.metadata.namespace))
      out.push({ code: FINDING_CODES.HOST_NOT_FOUND, level: 'Warning', resource: name(dr), message: `host "${dr.spec.host}" names no service in the catalog and no ServiceEntry host` });
  }

  // Two VirtualServices for one host: only the oldest applies (Istio merges only for gateways).
  const byHost = new Map<string, Resource<VirtualServiceSpec>[]>();
  for (const vs of vss.filter(boundToMesh)) {
    for (const host of vs.spec.hosts) {
      const key = target(host, vs.metadata.namespace) ?? `unknown/${host}`;
      byHost.set(key, [...(byHost.get(key) ?? []), vs]);
    }
  }
  for (const [key, list] of byHost) {
    if (list.length < 2) continue;
    for (const vs of list)
      out.push({
        code: FINDING_CODES.CONFLICTING_VIRTUAL_SERVICES,
        level: 'Error',
        resource: name(vs),
        message: `${list.length} VirtualServices route ${key.replace('/', ' ')} (${list.map(name).join(', ')}); only the oldest applies: merge their routes into one`,
      });
  }

  // Policies whose selector matches no workload.
  const allInstances = [...input.services.values()].flat();
  for (const kind of ['AuthorizationPolicy', 'PeerAuthentication', 'RequestAuthentication', 'LocalRateLimit', 'Telemetry']) {
    for (const p of of<{ selector?: WorkloadSelector }>(kind)) {
      const selector = p.spec.selector;
      if (!selector?.matchLabels || Object.keys(selector.matchLabels).length === 0) continue;
      const inScope = allInstances.filter((i) => p.metadata.namespace === input.rootNamespace || i.namespace === p.metadata.namespace);
      if (!inScope.some((i) => selectorMatches(selector, { ...i.labels, app: i.service, service: i.service })))
        out.push({
          code: FINDING_CODES.SELECTOR_MATCHES_NOTHING,
          level: 'Warning',
          resource: name(p),
          message: `its selector ${JSON.stringify(selector.matchLabels)} matches no workload in ${p.metadata.namespace === input.rootNamespace ? 'the mesh' : `namespace ${p.metadata.namespace}`}: it applies to nothing`,
        });
    }
  }

  // A DestinationRule that turns TLS off towards workloads that require mutual TLS.
  const strictNamespaces = new Set<string>();
  let meshStrict = false;
  for (const pa of of<{ selector?: WorkloadSelector; mtls?: { mode?: string } }>('PeerAuthentication')) {
    if (pa.spec.selector?.matchLabels || pa.spec.mtls?.mode !== 'STRICT') continue;
    if (pa.metadata.namespace === input.rootNamespace) meshStrict = true;
    else strictNamespaces.add(pa.metadata.namespace);
  }
  for (const dr of drs) {
    if (dr.spec.trafficPolicy?.tls?.mode !== 'DISABLE') continue;
    const key = target(dr.spec.host, dr.metadata.namespace);
    const ns = key && !key.startsWith('external/') ? key.split('/')[0] : undefined;
    if (ns && (meshStrict || strictNamespaces.has(ns)))
      out.push({
        code: FINDING_CODES.TLS_DISABLED_UNDER_STRICT,
        level: 'Error',
        resource: name(dr),
        message: `tls.mode DISABLE sends plaintext to ${key} whose workloads require mutual TLS (PeerAuthentication STRICT): every request is refused; use ISTIO_MUTUAL or remove the tls setting`,
      });
  }
  return out.sort((a, b) => a.resource.localeCompare(b.resource) || a.code.localeCompare(b.code));
}
