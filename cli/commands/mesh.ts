import type { ServiceInstance } from '../../core/catalog-model.js';
import type { ControllerClient } from '../../common/controller-client.js';
import { CONFIG_DUMP_KINDS, type ConfigDump, type ConfigDumpKind } from '../../core/config-dump.js';
import { age, output, table } from '../format.js';

export async function services(client: ControllerClient, format: string): Promise<string> {
  const body = (await client.call('GET', '/v1/services')).json<{ backend: string; healthy: boolean; services: { name: string; namespace: string; instances: ServiceInstance[] }[] }>();
  if (format !== 'table') return output(body, format);
  if (body.services.length === 0) return `No healthy services in the catalog (${body.backend}).\n`;
  return table(
    ['NAMESPACE', 'SERVICE', 'ENDPOINTS', 'VERSIONS', 'SIDECAR'],
    body.services.map((s) => [
      s.namespace,
      s.name,
      s.instances.map((i) => `${i.address}:${i.port}`).join(','),
      [...new Set(s.instances.map((i) => i.labels.version).filter(Boolean))].join(',') || '-',
      s.instances.every((i) => i.sidecar) ? 'yes' : s.instances.some((i) => i.sidecar) ? 'some' : 'no',
    ]),
  );
}

/** istioctl proxy-status: per proxy, whether it holds what the controller would send it now. */
export async function proxyStatus(client: ControllerClient, format: string): Promise<string> {
  const body = (await client.call('GET', '/v1/proxies')).json<{
    proxies: { id: string; service: string; namespace: string; version: string; status: string; ackedVersion: string | null; lastSeen: string }[];
  }>();
  if (format !== 'table') return output(body, format);
  if (body.proxies.length === 0) return 'No proxy has connected yet.\n';
  return table(
    ['NAME', 'NAMESPACE', 'SERVICE', 'STATUS', 'CONTROLLER VERSION', 'PROXY VERSION', 'LAST SEEN'],
    body.proxies.map((p) => [p.id, p.namespace, p.service, p.status, p.version, p.ackedVersion ?? '-', age(p.lastSeen)]),
  );
}

export async function proxies(client: ControllerClient, format: string): Promise<string> {
  const body = (await client.call('GET', '/v1/proxies')).json<{ proxies: { id: string; service: string; namespace: string; version: string; lastSeen: string }[] }>();
  if (format !== 'table') return output(body, format);
  if (body.proxies.length === 0) return 'No proxy has connected yet.\n';
  return table(
    ['PROXY', 'SERVICE', 'NAMESPACE', 'SNAPSHOT', 'LAST SEEN'],
    body.proxies.map((p) => [p.id, p.service, p.namespace, p.version, age(p.lastSeen)]),
  );
}

/** The snapshot the controller compiled for a proxy (what it would send it). */
export async function proxySnapshot(client: ControllerClient, id: string, format: string): Promise<string> {
  const body = (await client.call('GET', `/v1/proxies/${encodeURIComponent(id)}`)).json();
  return output(body, format === 'table' ? 'yaml' : format);
}

const KIND_TABLES: { [K in ConfigDumpKind]: (d: ConfigDump) => [string[], (string | number)[][]] } = {
  listener: (d) => [['ADDRESS', 'PORT', 'TYPE', 'MATCH', 'DESTINATION'], d.listeners.map((l) => [l.address, l.port, l.type, l.match, l.destination])],
  route: (d) => [['NAME', 'SERVICE', 'DOMAINS', 'MATCH', 'DESTINATION'], d.routes.map((r) => [r.name, r.service, r.domains.join(','), r.match, r.destination])],
  cluster: (d) => [['SERVICE FQDN', 'PORT', 'SUBSET', 'DIRECTION', 'TLS', 'LB', 'ENDPOINTS'], d.clusters.map((c) => [c.fqdn || '-', c.port, c.subset, c.direction, c.tls, c.lb, c.endpoints])],
  endpoint: (d) => [['ENDPOINT', 'STATUS', 'OUTLIER CHECK', 'CLUSTER', 'VIA'], d.endpoints.map((e) => [e.endpoint, e.status, e.outlierCheck, e.cluster, e.via])],
  secret: (d) => [
    ['RESOURCE NAME', 'TYPE', 'STATUS', 'SERIAL NUMBER', 'NOT AFTER', 'NOT BEFORE', 'IDENTITY'],
    d.secrets.map((s) => [s.name, s.type, s.status, s.serial, s.notAfter, s.notBefore, s.identity]),
  ],
};
const LISTS = { listener: 'listeners', route: 'routes', cluster: 'clusters', endpoint: 'endpoints', secret: 'secrets' } as const;

/** istioctl proxy-config KIND: what the sidecar itself runs, as it last reported it. */
export async function proxyConfig(client: ControllerClient, kind: ConfigDumpKind | 'all', id: string, format: string): Promise<string> {
  const dump = (await client.call('GET', `/v1/proxies/${encodeURIComponent(id)}/config-dump`)).json<ConfigDump & { receivedAt: string }>();
  const kinds = kind === 'all' ? CONFIG_DUMP_KINDS : [kind];
  if (format !== 'table') return output(kind === 'all' ? dump : dump[LISTS[kind]], format);
  const parts = kinds.map((k) => {
    const [headers, rows] = KIND_TABLES[k](dump);
    return (kind === 'all' ? `${LISTS[k].toUpperCase()}\n` : '') + table(headers, rows);
  });
  return `${parts.join('\n')}\n(as ${id} reported it ${age(dump.receivedAt)} ago; snapshot ${dump.version || 'none yet'})\n`;
}

export async function status(client: ControllerClient, format: string): Promise<string> {
  const body = (await client.call('GET', '/v1/status')).json<
    Record<string, unknown> & { status: string; components: Record<string, string>; catalog: { backend: string; services: number; instances: number } }
  >();
  if (format !== 'table') return output(body, format);
  const lines = [
    `controller   ${client.baseUrl}  (version ${String(body.version)}${body.leader ? ', leader' : ''})`,
    `status       ${body.status}`,
    ...Object.entries(body.components).map(([k, v]) => `  ${k.padEnd(10)} ${v}`),
    `trust domain ${String(body.trustDomain)}  (${String(body.roots)} root${body.roots === 1 ? '' : 's'} in the bundle)`,
    `catalog      ${body.catalog.backend}: ${body.catalog.services} services, ${body.catalog.instances} healthy instances`,
    `resources    ${String(body.resources)}`,
    `proxies      ${String(body.proxies)} connected recently`,
  ];
  return lines.join('\n') + '\n';
}
