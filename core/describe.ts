// What applies to one service or one workload, in one place (istioctl x describe): its instances
// and their proxies' sync, the routing resources that name it, the policies that select it (with
// Istio's scoping: its namespace, or mesh-wide from the root namespace), and the analysis findings
// about those resources. The web UI's service panel and `meshctl x describe` both read this. Pure.
import type { ServiceInstance } from './catalog-model.js';
import { serviceForHost, serviceKey } from './hosts.js';
import type { Finding } from './analysis/analyze.js';
import type { DestinationRuleSpec, Resource, VirtualServiceSpec, WorkloadSelector } from './resources/types.js';
import { boundGateways, boundToMesh } from './snapshot/gateway-binding.js';
import { selectorMatches } from './snapshot/selectors.js';
import { serviceFqdn, workloadMeta } from './workload-meta.js';

export interface DescribeInput {
  resources: readonly Resource[];
  /** Healthy instances by `namespace/name`. */
  services: ReadonlyMap<string, readonly ServiceInstance[]>;
  rootNamespace: string;
  /** Sync status of each connected proxy, by instance id (SYNCED, STALE, NOT SENT). */
  proxyStatus: ReadonlyMap<string, string>;
  findings: readonly Finding[];
}

export interface DescribedInstance {
  id: string;
  workload: string;
  address: string;
  port: number;
  labels: Record<string, string>;
  sidecar: boolean;
  /** SYNCED, STALE, NOT SENT, or "not connected" for a sidecar that has not watched recently; "-" without a sidecar. */
  proxy: string;
}

export interface AppliedResource {
  kind: string;
  namespace: string;
  name: string;
  /** Why it applies, in a few words. */
  why: string;
}

export interface Description {
  service: string;
  namespace: string;
  host: string;
  /** Set when a workload (one deployment unit of the service) was described. */
  workload?: string;
  instances: DescribedInstance[];
  versions: string[];
  resources: AppliedResource[];
  findings: Finding[];
}

const POLICY_KINDS = new Set(['PeerAuthentication', 'AuthorizationPolicy', 'RequestAuthentication', 'Telemetry']);

/** The labels policies select on: the instance's own, with app and service as the compiler sees them. */
function selectorLabels(i: ServiceInstance): Record<string, string> {
  return { ...i.labels, app: i.service, service: i.service };
}

function describeInstance(i: ServiceInstance, input: DescribeInput): DescribedInstance {
  return {
    id: i.id,
    workload: workloadMeta(i.service, i.namespace, i.labels, '').workload,
    address: i.address,
    port: i.port,
    labels: i.labels,
    sidecar: i.sidecar !== undefined,
    proxy: i.sidecar ? (input.proxyStatus.get(i.id) ?? 'not connected') : '-',
  };
}

/** Names this service (from the resource's namespace), by the host rules sidecars route by. */
function names(host: string, fromNamespace: string, key: string): boolean {
  const ref = serviceForHost(host, fromNamespace);
  return ref !== undefined && serviceKey(ref) === key;
}

function routing(input: DescribeInput, key: string): AppliedResource[] {
  const out: AppliedResource[] = [];
  for (const r of input.resources) {
    const at = { kind: r.kind, namespace: r.metadata.namespace, name: r.metadata.name };
    if (r.kind === 'VirtualService') {
      const vs = r as Resource<VirtualServiceSpec>;
      const ns = vs.metadata.namespace;
      const where = [boundToMesh(vs) ? 'mesh' : '', ...boundGateways(vs).map((g) => `gateway ${g}`)].filter(Boolean).join(', ');
      if (vs.spec.hosts.some((h) => names(h, ns, key))) out.push({ ...at, why: `routes requests for it (${where})` });
      else {
        const dests = [...(vs.spec.http ?? []), ...(vs.spec.tcp ?? []), ...(vs.spec.tls ?? [])].flatMap((route) => (route.route ?? []).map((d) => d.destination.host));
        if (dests.some((h) => names(h, ns, key))) out.push({ ...at, why: `sends requests for ${vs.spec.hosts.join(', ')} to it (${where})` });
      }
    } else if (r.kind === 'DestinationRule') {
      const dr = r as Resource<DestinationRuleSpec>;
      if (names(dr.spec.host, dr.metadata.namespace, key)) {
        const subsets = (dr.spec.subsets ?? []).map((s) => s.name);
        out.push({ ...at, why: `traffic policy${subsets.length ? `, subsets ${subsets.join(', ')}` : ''}` });
      }
    }
  }
  return out;
}

function policies(input: DescribeInput, namespace: string, instances: readonly ServiceInstance[]): AppliedResource[] {
  const out: AppliedResource[] = [];
  for (const r of input.resources) {
    if (!POLICY_KINDS.has(r.kind)) continue;
    const rns = r.metadata.namespace;
    if (rns !== namespace && rns !== input.rootNamespace) continue;
    const selector = (r.spec as { selector?: WorkloadSelector }).selector;
    const selected = instances.filter((i) => selectorMatches(selector, selectorLabels(i)));
    if (selected.length === 0) continue;
    const scope = rns === input.rootNamespace && rns !== namespace ? 'mesh-wide' : selector?.matchLabels ? 'selects it' : 'namespace-wide';
    const share = selected.length === instances.length ? '' : `, ${selected.length} of ${instances.length} instances`;
    out.push({ kind: r.kind, namespace: rns, name: r.metadata.name, why: `${scope}${share}` });
  }
  return out;
}

function describeInstances(input: DescribeInput, namespace: string, name: string, instances: readonly ServiceInstance[], workload?: string): Description {
  const key = `${namespace}/${name}`;
  const resources = [...routing(input, key), ...policies(input, namespace, instances)];
  const about = new Set(resources.map((r) => `${r.kind} ${r.namespace}/${r.name}`));
  return {
    service: name,
    namespace,
    host: serviceFqdn(name, namespace),
    ...(workload ? { workload } : {}),
    instances: instances.map((i) => describeInstance(i, input)),
    versions: [...new Set(instances.map((i) => i.labels.version).filter((v): v is string => Boolean(v)))].sort(),
    resources,
    findings: input.findings.filter((f) => about.has(f.resource)),
  };
}

/** A service of the catalog; undefined when it has no healthy instance. */
export function describeService(input: DescribeInput, namespace: string, name: string): Description | undefined {
  const instances = input.services.get(`${namespace}/${name}`);
  return instances && instances.length > 0 ? describeInstances(input, namespace, name, instances) : undefined;
}

/** A workload (`reviews-v1`: a service's instances of one version), or one instance by its id. */
export function describeWorkload(input: DescribeInput, namespace: string, workload: string): Description | undefined {
  for (const [key, list] of input.services) {
    if (!key.startsWith(`${namespace}/`)) continue;
    const mine = list.filter((i) => i.id === workload || workloadMeta(i.service, i.namespace, i.labels, '').workload === workload);
    if (mine.length > 0) return describeInstances(input, namespace, mine[0].service, mine, workload);
  }
  return undefined;
}
