import type { ServiceInstance } from '../../core/catalog-model.js';
import type { ControllerClient } from '../../common/controller-client.js';
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

export async function proxyConfig(client: ControllerClient, id: string, format: string): Promise<string> {
  const body = (await client.call('GET', `/v1/proxies/${encodeURIComponent(id)}`)).json();
  return output(body, format === 'table' ? 'yaml' : format);
}

export async function status(client: ControllerClient, format: string): Promise<string> {
  const body = (await client.call('GET', '/v1/status')).json<
    Record<string, unknown> & { status: string; components: Record<string, string>; catalog: { backend: string; services: number; instances: number } }
  >();
  if (format !== 'table') return output(body, format);
  const lines = [
    `controller   ${client.baseUrl}  (version ${String(body.version)})`,
    `status       ${body.status}`,
    ...Object.entries(body.components).map(([k, v]) => `  ${k.padEnd(10)} ${v}`),
    `trust domain ${String(body.trustDomain)}  (${String(body.roots)} root${body.roots === 1 ? '' : 's'} in the bundle)`,
    `catalog      ${body.catalog.backend}: ${body.catalog.services} services, ${body.catalog.instances} healthy instances`,
    `resources    ${String(body.resources)}`,
    `proxies      ${String(body.proxies)} connected recently`,
  ];
  return lines.join('\n') + '\n';
}
