// Istio's Sidecar resource for one workload: which services its proxy is told about. The one that
// applies is, as in Istio, the oldest with a workloadSelector matching the workload in its
// namespace, else the namespace's Sidecar without selector, else the root namespace's (the mesh's
// default); none: every service. Its egress hosts are `namespace/host`: the namespace `*` (any),
// `.` (the workload's own: so the mesh default `./*` means each workload's namespace) or `~`
// (none), the host `*`, `*.suffix` or an exact name. Pure.
import type { Resource, SidecarSpec } from '../resources/types.js';
import { byAgeThenName, selectorMatches } from './selectors.js';

export function sidecarFor(resources: readonly Resource[], workload: { namespace: string; labels: Record<string, string> }, rootNamespace: string): Resource<SidecarSpec> | undefined {
  const all = (resources.filter((r) => r.kind === 'Sidecar') as Resource<SidecarSpec>[]).sort(byAgeThenName);
  const selects = (r: Resource<SidecarSpec>) => selectorMatches({ matchLabels: r.spec.workloadSelector?.labels }, workload.labels);
  const inNs = all.filter((r) => r.metadata.namespace === workload.namespace);
  return inNs.find((r) => r.spec.workloadSelector && selects(r)) ?? inNs.find((r) => !r.spec.workloadSelector) ?? all.find((r) => r.metadata.namespace === rootNamespace && !r.spec.workloadSelector);
}

function hostMatches(pattern: string, host: string): boolean {
  if (pattern === '*') return true;
  if (pattern.startsWith('*.')) return host.endsWith(pattern.slice(1));
  return pattern === host;
}

/** Whether the Sidecar lets a proxy in `workloadNamespace` know a service of `namespace` that answers to `hosts` (its FQDN, or a ServiceEntry's hosts). */
export function egressAdmits(sidecar: Resource<SidecarSpec>, workloadNamespace: string, namespace: string, hosts: readonly string[]): boolean {
  for (const egress of sidecar.spec.egress ?? [{ hosts: ['*/*'] }])
    for (const entry of egress.hosts) {
      const slash = entry.indexOf('/');
      const ns = entry.slice(0, slash);
      const host = entry.slice(slash + 1).toLowerCase();
      if (ns === '~') continue;
      if (ns !== '*' && (ns === '.' ? workloadNamespace : ns) !== namespace) continue;
      if (hosts.some((h) => hostMatches(host, h.toLowerCase()))) return true;
    }
  return false;
}
