// Which proxies a VirtualService is for, as Istio reads `spec.gateways`: absent or empty, the
// sidecars (`mesh`) only; otherwise exactly the gateways it names, plus the sidecars when it
// names `mesh`. A gateway is named `name` (in the VirtualService's namespace) or `namespace/name`.
import type { Resource, VirtualServiceSpec } from '../resources/types.js';

export const MESH_GATEWAY = 'mesh';

export function boundToMesh(vs: Resource<VirtualServiceSpec>): boolean {
  const g = vs.spec.gateways;
  return !g || g.length === 0 || g.includes(MESH_GATEWAY);
}

/** `namespace/name` of every Gateway the VirtualService names. */
export function boundGateways(vs: Resource<VirtualServiceSpec>): string[] {
  return (vs.spec.gateways ?? []).filter((g) => g !== MESH_GATEWAY).map((g) => (g.includes('/') ? g : `${vs.metadata.namespace}/${g}`));
}

/**
 * Whether a server host (`[namespace/]host` of a Gateway server) admits the VirtualService
 * host `host` from namespace `vsNamespace`, and the host the pair serves (the narrower one).
 */
export function serverTakes(serverHost: string, gatewayNamespace: string, vsNamespace: string, host: string): string | undefined {
  const slash = serverHost.indexOf('/');
  const ns = slash < 0 ? '*' : serverHost.slice(0, slash);
  const pattern = (slash < 0 ? serverHost : serverHost.slice(slash + 1)).toLowerCase();
  if (ns !== '*' && (ns === '.' ? gatewayNamespace : ns) !== vsNamespace) return undefined;
  const h = host.toLowerCase();
  if (hostMatches(pattern, h)) return h;
  if (hostMatches(h, pattern)) return pattern;
  return undefined;
}

/** `*` matches any host, `*.example.com` any name under example.com, anything else itself. */
export function hostMatches(pattern: string, host: string): boolean {
  if (pattern === '*') return true;
  if (pattern.startsWith('*.')) return host.endsWith(pattern.slice(1)) && host.length > pattern.length - 1;
  return pattern === host;
}
