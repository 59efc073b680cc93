// The gateway part of a gateway proxy's snapshot: the servers of the Gateways whose selector
// matches the proxy's labels, one listener per port, and for each the VirtualServices bound to
// those Gateways (`spec.gateways`), with the hosts each serves there. The routes are compiled as
// for a sidecar; their clusters are the outbound config's, so a gateway reaches mesh services
// over mTLS exactly as a sidecar does.
import type { GatewayServer, GatewaySpec, Resource, VirtualServiceSpec } from '../resources/types.js';
import { boundGateways, serverTakes } from './gateway-binding.js';
import { compileHttpRoutes, compileTcpRoutes, type SourceWorkload } from './compile-outbound.js';
import { byAgeThenName, selectorMatches } from './selectors.js';
import { exportedTo } from './export-to.js';
import type { CompiledHttpRoute, GatewayConfig, GatewayListener, GatewayTls, InboundConfig, OutboundService } from './types.js';

export function compileGateway(resources: Resource[], proxy: SourceWorkload): GatewayConfig {
  const of = <S>(kind: string) => (resources.filter((r) => r.kind === kind) as Resource<S>[]).sort(byAgeThenName);
  const gateways = of<GatewaySpec>('Gateway').filter((g) => selectorMatches({ matchLabels: g.spec.selector }, proxy.labels));
  // A gateway sees the VirtualServices exported to its namespace, as a sidecar does.
  const virtualServices = of<VirtualServiceSpec>('VirtualService').filter((vs) => exportedTo(vs, proxy.namespace));
  const listeners = new Map<number, GatewayListener>();
  /** Per listener, which VirtualService claimed which host, oldest first. */
  const claimed = new Map<GatewayListener, { host: string; vs: Resource<VirtualServiceSpec> }[]>();
  const claims = (l: GatewayListener) => {
    let list = claimed.get(l);
    if (!list) claimed.set(l, (list = []));
    return list;
  };
  /** Per listener, the hosts of servers with tls.httpsRedirect. */
  const redirected = new Map<GatewayListener, Set<string>>();

  for (const g of gateways) {
    const name = `${g.metadata.namespace}/${g.metadata.name}`;
    const bound = virtualServices.filter((vs) => boundGateways(vs).includes(name));
    for (const server of g.spec.servers) {
      const port = server.port.number;
      let listener = listeners.get(port);
      if (!listener) listeners.set(port, (listener = { port, protocol: server.port.protocol, gateways: [], virtualHosts: [] }));
      // One protocol per port (the oldest Gateway's); validation refuses a conflict within one Gateway.
      if (listener.protocol !== server.port.protocol) continue;
      if (!listener.gateways.includes(name)) listener.gateways.push(name);
      if (server.tls?.mode && listener.protocol === 'HTTPS') (listener.tls ??= []).push(tlsOf(server, proxy.namespace));
      // tls.httpsRedirect: the server's hosts answer 301 to https, whatever VirtualServices say.
      if (server.tls?.httpsRedirect) {
        const hosts = redirected.get(listener) ?? new Set<string>();
        for (const h of server.hosts) hosts.add(hostPart(h));
        redirected.set(listener, hosts);
        continue;
      }
      for (const vs of bound) {
        if (!routesFor(vs, listener.protocol)) continue;
        const hosts = [...new Set(vs.spec.hosts.flatMap((h) => server.hosts.map((sh) => serverTakes(sh, g.metadata.namespace, vs.metadata.namespace, h)).filter((x): x is string => Boolean(x))))];
        for (const host of hosts) claims(listener).push({ host, vs });
      }
    }
  }
  for (const listener of listeners.values()) {
    // A redirecting server's hosts are its own: no VirtualService adds routes to them.
    const redirects = redirected.get(listener);
    const list = (claimed.get(listener) ?? []).filter((c) => !redirects?.has(c.host));
    listener.virtualHosts = [...virtualHosts(list, listener, proxy), ...(redirects ? [redirectHost([...redirects], listener.port, proxy.namespace)] : [])];
  }
  return { listeners: [...listeners.values()].sort((a, b) => a.port - b.port) };
}

/** Whether a VirtualService has routes a listener of this protocol serves: tls routes for TLS (passthrough), tcp for TCP, http for the rest. */
function routesFor(vs: Resource<VirtualServiceSpec>, protocol: GatewayListener['protocol']): boolean {
  if (protocol === 'TLS') return Boolean(vs.spec.tls);
  if (protocol === 'TCP') return Boolean(vs.spec.tcp);
  return Boolean(vs.spec.http);
}

/**
 * The virtual hosts of one listener. A host one VirtualService claims is served by its routes; a
 * host several claim is served by their routes concatenated, oldest VirtualService first, with
 * the catch-all routes moved to the end, as Istio merges VirtualServices bound to a gateway.
 */
function virtualHosts(claims: { host: string; vs: Resource<VirtualServiceSpec> }[], listener: GatewayListener, source: SourceWorkload): OutboundService[] {
  const byHost = new Map<string, Resource<VirtualServiceSpec>[]>();
  for (const { host, vs } of claims) {
    const list = byHost.get(host) ?? [];
    if (!list.includes(vs)) list.push(vs);
    byHost.set(host, list);
  }
  // Hosts with the same VirtualServices share one virtual host.
  const groups = new Map<string, { hosts: string[]; vss: Resource<VirtualServiceSpec>[] }>();
  for (const [host, vss] of byHost) {
    vss.sort(byAgeThenName);
    const key = vss.map((v) => `${v.metadata.namespace}/${v.metadata.name}`).join(',');
    const group = groups.get(key) ?? { hosts: [], vss };
    group.hosts.push(host);
    groups.set(key, group);
  }
  const tcp = listener.protocol === 'TCP' || listener.protocol === 'TLS';
  const kind = listener.protocol === 'TLS' ? 'tls' : 'tcp';
  return [...groups.values()].map(({ hosts, vss }) => {
    const here = { ...source, gateways: listener.gateways };
    const http = tcp ? [] : vss.flatMap((vs) => compileHttpRoutes(vs, here));
    const catchAll = (r: CompiledHttpRoute) =>
      r.match.length === 0 || r.match.some((m) => Object.keys(m).length === 0 || (Object.keys(m).length === 1 && m.uri !== undefined && 'prefix' in m.uri && m.uri.prefix === '/'));
    return {
      name: vss.map((v) => v.metadata.name).join('+'),
      namespace: vss[0].metadata.namespace,
      hosts,
      external: false,
      ports: [{ port: listener.port, protocol: tcp ? 'tcp' : 'http' }],
      httpRoutes: vss.length > 1 ? [...http.filter((r) => !catchAll(r)), ...http.filter(catchAll)] : http,
      // A tcp route that names a port takes connections to that port of the gateway only.
      tcpRoutes: tcp ? vss.flatMap((vs) => compileTcpRoutes(vs, here, kind)).filter((r) => r.match.length === 0 || r.match.some((m) => m.port === undefined || m.port === listener.port)) : [],
      clusters: [],
    };
  });
}

function redirectHost(hosts: string[], port: number, namespace: string): OutboundService {
  return {
    name: 'https-redirect',
    namespace,
    hosts,
    external: false,
    ports: [{ port, protocol: 'http' }],
    httpRoutes: [{ name: 'https-redirect', match: [], action: { type: 'redirect', scheme: 'https', code: 301 } }],
    tcpRoutes: [],
    clusters: [],
  };
}

function hostPart(serverHost: string): string {
  return serverHost.slice(serverHost.indexOf('/') + 1).toLowerCase();
}

const TLS_VERSIONS: Record<string, 'TLSv1.2' | 'TLSv1.3' | undefined> = { TLSV1_2: 'TLSv1.2', TLSV1_3: 'TLSv1.3', TLS_AUTO: undefined };

function tlsOf(server: GatewayServer, gatewayNamespace: string): GatewayTls {
  const t = server.tls!;
  const min = t.minProtocolVersion ? TLS_VERSIONS[t.minProtocolVersion] : undefined;
  const max = t.maxProtocolVersion ? TLS_VERSIONS[t.maxProtocolVersion] : undefined;
  return {
    hosts: server.hosts.map(hostPart),
    mode: t.mode as GatewayTls['mode'],
    // Istio reads credentialName in the gateway workload's namespace.
    ...(t.credentialName ? { credential: `${gatewayNamespace}/${t.credentialName}` } : {}),
    subjectAltNames: t.subjectAltNames ?? [],
    ...(min ? { minVersion: min } : {}),
    ...(max ? { maxVersion: max } : {}),
  };
}

/**
 * A gateway does not enforce AuthorizationPolicy or RequestAuthentication yet. When any selects
 * it, every request is refused (403) with the reason, never let through as if the policy were not
 * there; TCP connections get no route (closed).
 */
export function refuseUnenforcedPolicies(config: GatewayConfig, inbound: InboundConfig, namespace: string): GatewayConfig {
  const a = inbound.authorization;
  const policies = [...a.deny, ...a.allow, ...(a.custom ?? [])].map((p) => p.name);
  if (inbound.jwtRules.length > 0) policies.push(`RequestAuthentication (${inbound.jwtRules.map((r) => r.issuer).join(', ')})`);
  if (policies.length === 0) return config;
  const body = `RBAC: access denied: ${[...new Set(policies)].join(', ')} select this gateway, and gateways do not enforce AuthorizationPolicy or RequestAuthentication yet: refused rather than ignored. Select the workloads behind the gateway instead.\n`;
  return {
    listeners: config.listeners.map((l) => ({
      ...l,
      virtualHosts: [
        {
          name: 'policy-not-enforced-at-gateway',
          namespace,
          hosts: ['*'],
          external: false,
          ports: [{ port: l.port, protocol: l.protocol === 'TCP' ? 'tcp' : 'http' }],
          httpRoutes: [{ name: 'refused', match: [], action: { type: 'direct', status: 403, body } }],
          tcpRoutes: [],
          clusters: [],
        },
      ],
    })),
  };
}
