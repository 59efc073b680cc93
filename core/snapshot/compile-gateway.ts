// The gateway part of a gateway proxy's snapshot: the servers of the Gateways whose selector
// matches the proxy's labels, one listener per port, and for each the VirtualServices bound to
// those Gateways (`spec.gateways`), with the hosts each serves there. The routes are compiled as
// for a sidecar; their clusters are the outbound config's, so a gateway reaches mesh services
// over mTLS exactly as a sidecar does.
import type { GatewaySpec, Resource, VirtualServiceSpec } from '../resources/types.js';
import { boundGateways, serverTakes } from './gateway-binding.js';
import { compileHttpRoutes, compileTcpRoutes, type SourceWorkload } from './compile-outbound.js';
import { byAgeThenName, selectorMatches } from './selectors.js';
import type { GatewayConfig, GatewayListener, OutboundService } from './types.js';

export function compileGateway(resources: Resource[], proxy: SourceWorkload): GatewayConfig {
  const of = <S>(kind: string) => (resources.filter((r) => r.kind === kind) as Resource<S>[]).sort(byAgeThenName);
  const gateways = of<GatewaySpec>('Gateway').filter((g) => selectorMatches({ matchLabels: g.spec.selector }, proxy.labels));
  const virtualServices = of<VirtualServiceSpec>('VirtualService');
  const listeners = new Map<number, GatewayListener>();

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
      const tcp = listener.protocol === 'TCP';
      for (const vs of bound) {
        if (tcp ? !vs.spec.tcp : !vs.spec.http) continue;
        const hosts = [...new Set(vs.spec.hosts.flatMap((h) => server.hosts.map((sh) => serverTakes(sh, g.metadata.namespace, vs.metadata.namespace, h)).filter((x): x is string => Boolean(x))))];
        if (hosts.length === 0) continue;
        const existing = listener.virtualHosts.find((v) => v.name === vs.metadata.name && v.namespace === vs.metadata.namespace);
        if (existing) {
          for (const h of hosts) if (!existing.hosts.includes(h)) existing.hosts.push(h);
          continue;
        }
        listener.virtualHosts.push(virtualHost(vs, hosts, port, tcp, proxy));
      }
    }
  }
  return { listeners: [...listeners.values()].sort((a, b) => a.port - b.port) };
}

function virtualHost(vs: Resource<VirtualServiceSpec>, hosts: string[], port: number, tcp: boolean, source: SourceWorkload): OutboundService {
  return {
    name: vs.metadata.name,
    namespace: vs.metadata.namespace,
    hosts,
    external: false,
    ports: [{ port, protocol: tcp ? 'tcp' : 'http' }],
    httpRoutes: tcp ? [] : compileHttpRoutes(vs, source),
    // A tcp route that names a port takes connections to that port of the gateway only.
    tcpRoutes: tcp ? compileTcpRoutes(vs, source).filter((r) => r.match.length === 0 || r.match.some((m) => m.port === undefined || m.port === port)) : [],
    clusters: [],
  };
}
