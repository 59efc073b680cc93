// The sidecar's live state in istioctl proxy-config's terms (core/config-dump.ts): clusters and
// endpoints from the balancers (outlier ejections included), routes from the running snapshot,
// listeners that are open, and the certificate in use.
import { certificateInfo } from '../core/pki/certificate-info.js';
import { envoyClusterName } from '../core/access-log/entry.js';
import { matchText, type ClusterView, type ConfigDump, type EndpointView, type ListenerView, type RouteView, type SecretView } from '../core/config-dump.js';
import type { Cluster, OutboundService, RouteAction } from '../core/snapshot/types.js';
import type { IdentityMaterial } from './identity.js';
import type { RuntimeConfig } from './runtime-config.js';
import { clusterFqdn, upstreamClusterName } from './access-log.js';

export interface DumpInput {
  proxy: string;
  config: RuntimeConfig | undefined;
  identity: IdentityMaterial | undefined;
  listeners: ListenerView[];
  /** `host:port` of the application. */
  app: string;
  now: number;
}

function destinationText(action: RouteAction, clusters: ReadonlyMap<string, string>): string {
  if (action.type === 'redirect') return `redirect ${action.code}`;
  if (action.type === 'direct') return `direct response ${action.status}`;
  return action.destinations.map((d) => `${clusters.get(d.cluster) ?? d.cluster}${action.destinations.length > 1 ? ` (${d.weight}%)` : ''}`).join(', ');
}

function tlsText(c: Cluster): string {
  return c.tls.mode === 'AUTO' ? 'ISTIO_MUTUAL (auto)' : c.tls.mode;
}

export function collectConfigDump(d: DumpInput): ConfigDump {
  const cfg = d.config;
  const clusters: ClusterView[] = [];
  const endpoints: EndpointView[] = [];
  const routes: RouteView[] = [];
  // Envoy's name for each of our cluster keys, for routes to print.
  const envoyNames = new Map<string, string>();
  const serviceOf = new Map<string, OutboundService>();
  for (const svc of cfg?.snapshot.outbound.services ?? []) for (const c of svc.clusters) serviceOf.set(c.name, svc);
  for (const [key, entry] of cfg?.clusters ?? []) {
    const c = entry.cluster;
    const svc = serviceOf.get(c.name);
    if (!svc) continue;
    const portPart = key.startsWith(`${c.name}:`) ? Number(key.slice(c.name.length + 1)) : svc.ports[0]?.port;
    const name = upstreamClusterName(c, portPart, svc)!;
    if (key === c.name) envoyNames.set(c.name, name);
    const health = entry.balancer.endpointHealth(d.now);
    clusters.push({
      name,
      fqdn: clusterFqdn(c, svc),
      port: portPart === undefined ? '-' : String(portPart),
      subset: c.subset ?? '-',
      direction: 'outbound',
      tls: tlsText(c),
      lb: c.lb.type,
      endpoints: health.length,
    });
    for (const h of health) {
      endpoints.push({
        // The instance's own address, as Istio shows a pod's; `via` says where the connection goes.
        endpoint: `${h.endpoint.address}:${h.endpoint.port}`,
        status: h.ejected ? 'UNHEALTHY' : 'HEALTHY',
        outlierCheck: h.ejected ? 'FAILED' : 'OK',
        cluster: name,
        via: h.endpoint.sidecarPort !== undefined && c.tls.mode !== 'DISABLE' ? `mTLS to its sidecar :${h.endpoint.sidecarPort}` : 'direct',
      });
    }
  }
  for (const p of cfg?.snapshot.inbound.ports ?? []) {
    const name = envoyClusterName('inbound', p.port, undefined, '');
    clusters.push({ name, fqdn: '', port: String(p.port), subset: '-', direction: 'inbound', tls: p.mtlsMode, lb: '-', endpoints: 1 });
    endpoints.push({ endpoint: d.app, status: 'HEALTHY', outlierCheck: 'OK', cluster: name, via: 'the application' });
  }
  const svcRoutes = (svc: OutboundService, domains: string[]) => {
    for (const r of svc.httpRoutes) routes.push({ name: r.name, service: `${svc.namespace}/${svc.name}`, domains, match: matchText(r.match), destination: destinationText(r.action, envoyNames) });
    for (const [i, r] of svc.tcpRoutes.entries())
      routes.push({ name: `tcp/${i}`, service: `${svc.namespace}/${svc.name}`, domains, match: 'TCP', destination: r.destinations.map((x) => envoyNames.get(x.cluster) ?? x.cluster).join(', ') });
  };
  for (const svc of cfg?.snapshot.outbound.services ?? []) svcRoutes(svc, svc.hosts);
  for (const l of cfg?.snapshot.gateway?.listeners ?? [])
    for (const vh of l.virtualHosts)
      svcRoutes(
        vh,
        vh.hosts.map((h) => `${h}:${l.port}`),
      );
  return {
    proxy: d.proxy,
    version: cfg?.snapshot.version ?? '',
    collectedAt: new Date(d.now).toISOString(),
    listeners: d.listeners,
    routes,
    clusters,
    endpoints,
    secrets: secrets(d.identity, d.now),
  };
}

function secrets(id: IdentityMaterial | undefined, now: number): SecretView[] {
  if (!id) return [];
  const view = (name: string, type: SecretView['type'], pem: string): SecretView => {
    const info = certificateInfo(pem);
    return {
      name,
      type,
      status: info.notAfter.getTime() > now ? 'ACTIVE' : 'EXPIRED',
      serial: info.serialHex,
      notBefore: info.notBefore.toISOString(),
      notAfter: info.notAfter.toISOString(),
      identity: info.uris[0] ?? info.dnsNames[0] ?? '',
    };
  };
  return [view('default', 'Cert Chain', id.certPem), ...id.trustBundle.map((pem) => view('ROOTCA', 'CA', pem))];
}
