// `meshctl secret`: gateways' TLS credentials, as `kubectl create secret tls` makes them for Istio
// (credentialName in a Gateway names one of the gateway's namespace). Keys go to the controller
// and never come back: list shows names, hosts and expiry only.
import { readFileSync } from 'node:fs';
import { MeshError } from '../../core/errors.js';
import type { ControllerClient } from '../../common/controller-client.js';
import { output, table } from '../format.js';

interface SecretInfo {
  namespace: string;
  name: string;
  type: string;
  dnsNames: string[];
  notAfter: string;
  hasCa: boolean;
}

function readPem(file: string, flag: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new MeshError('INVALID_ARGUMENT', `--${flag}: cannot read ${file}: ${(err as Error).message}`, { cause: err });
  }
}

export async function createTlsSecret(client: ControllerClient, name: string, files: { cert: string; key: string; ca?: string }, namespace: string | undefined, format: string): Promise<string> {
  const body = { name, namespace: namespace ?? 'default', type: 'tls', cert: readPem(files.cert, 'cert'), key: readPem(files.key, 'key'), ...(files.ca ? { ca: readPem(files.ca, 'ca') } : {}) };
  const s = (await client.call('POST', '/v1/secrets', body)).json<SecretInfo>();
  return format === 'table'
    ? `secret/${s.name} (${s.namespace}) stored: ${s.dnsNames.join(', ') || 'no DNS names'}, valid until ${s.notAfter}${s.hasCa ? ', with a CA bundle for MUTUAL' : ''}\n`
    : output(s, format);
}

export async function listSecrets(client: ControllerClient, namespace: string | undefined, format: string): Promise<string> {
  const { items } = (await client.call('GET', `/v1/secrets${namespace ? `?namespace=${encodeURIComponent(namespace)}` : ''}`)).json<{ items: SecretInfo[] }>();
  if (format !== 'table') return output({ items }, format);
  if (items.length === 0) return 'No TLS credentials stored.\n';
  return table(
    ['NAMESPACE', 'NAME', 'TYPE', 'DNS NAMES', 'NOT AFTER', 'CA'],
    items.map((s) => [s.namespace, s.name, s.type, s.dnsNames.join(',') || '-', s.notAfter, s.hasCa ? 'yes' : 'no']),
  );
}

export async function deleteSecret(client: ControllerClient, name: string, namespace: string | undefined): Promise<string> {
  const ns = namespace ?? 'default';
  await client.call('DELETE', `/v1/secrets/${encodeURIComponent(ns)}/${encodeURIComponent(name)}`);
  return `secret/${name} (${ns}) deleted\n`;
}
