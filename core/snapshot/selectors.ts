// Which namespace-scoped policies apply to a workload, with Istio's precedence rules.
import type { Resource, WorkloadSelector } from '../resources/types.js';

export function selectorMatches(selector: WorkloadSelector | undefined, labels: Record<string, string>): boolean {
  const want = selector?.matchLabels;
  if (!want) return true;
  return Object.entries(want).every(([k, v]) => labels[k] === v);
}

/** Policies that apply to a workload: mesh-wide ones in the root namespace, and its own namespace's. */
export function applicablePolicies<S extends { selector?: WorkloadSelector }>(
  resources: Resource<S>[],
  workload: { namespace: string; labels: Record<string, string> },
  rootNamespace: string,
): Resource<S>[] {
  return resources
    .filter((r) => r.metadata.namespace === rootNamespace || r.metadata.namespace === workload.namespace)
    .filter((r) => selectorMatches(r.spec.selector, workload.labels))
    .sort(byAgeThenName);
}

export function byAgeThenName(a: Resource, b: Resource): number {
  const ta = a.metadata.creationTimestamp ?? '';
  const tb = b.metadata.creationTimestamp ?? '';
  if (ta !== tb) return ta < tb ? -1 : 1;
  const ka = `${a.metadata.namespace}/${a.metadata.name}`;
  const kb = `${b.metadata.namespace}/${b.metadata.name}`;
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}
