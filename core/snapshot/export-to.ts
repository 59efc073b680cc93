// Istio's exportTo on VirtualServices, DestinationRules and ServiceEntries: which namespaces'
// proxies (sidecars and gateways) see a resource. "*" or no exportTo: every namespace; ".": the
// resource's own; a name: that namespace; "~": none. Pure.
import type { Resource } from '../resources/types.js';

export function exportedTo(resource: Resource<{ exportTo?: string[] }>, namespace: string): boolean {
  const list = resource.spec.exportTo;
  if (!list || list.length === 0) return true;
  return list.some((e) => e === '*' || (e === '.' ? resource.metadata.namespace : e) === namespace);
}

/**
 * Which of several DestinationRules for one service a proxy takes, as Istio picks: the one in
 * the proxy's own namespace, then the one in the service's namespace, then any other; the oldest
 * within each. Lower ranks first.
 */
export function destinationRuleRank(resource: Resource, proxyNamespace: string, serviceNamespace: string): number {
  const ns = resource.metadata.namespace;
  return ns === proxyNamespace ? 0 : ns === serviceNamespace ? 1 : 2;
}
