import { readFileSync } from 'node:fs';
import { MeshError } from '../../core/errors.js';
import { certificateInfo } from '../../core/pki/x509.js';
import { certificateFingerprint } from '../../common/ca-pinning.js';
import type { ControllerClient } from '../../common/controller-client.js';
import { output, table } from '../format.js';

export async function createToken(client: ControllerClient, service: string, namespace: string | undefined, ttl: string | undefined, format: string, serviceAccount?: string): Promise<string> {
  const body = (await client.call('POST', '/v1/tokens', { service, ...(namespace ? { namespace } : {}), ...(serviceAccount ? { serviceAccount } : {}), ...(ttl ? { ttl } : {}) })).json<{
    token: string;
  }>();
  return format === 'table' ? `${body.token}\n` : output(body, format);
}

export async function createAgentToken(client: ControllerClient, host: string, format: string): Promise<string> {
  const body = (await client.call('POST', '/v1/agent-tokens', { host })).json<{ token: string; host: string }>();
  return format === 'table' ? `${body.token}\n` : output(body, format);
}

export async function revokeAgentTokens(client: ControllerClient, host: string, format: string): Promise<string> {
  const body = (await client.call('DELETE', `/v1/agent-tokens/${encodeURIComponent(host)}`)).json<{ host: string; revoked: number }>();
  return format === 'table' ? `revoked ${body.revoked} agent token${body.revoked === 1 ? '' : 's'} of ${body.host}\n` : output(body, format);
}

export async function roots(client: ControllerClient, format: string): Promise<string> {
  const body = (await client.call('GET', '/v1/ca/roots')).json<{ trustDomain: string; roots: string[] }>();
  if (format === 'pem') return body.roots.join('');
  if (format !== 'table') return output(body, format);
  return table(
    ['TRUST DOMAIN', 'SHA-256 FINGERPRINT (mesh-agent --ca-fingerprint)', 'NOT AFTER', 'SIGNING'],
    body.roots.map((pem, i) => {
      const info = certificateInfo(pem);
      return [body.trustDomain, certificateFingerprint(pem), info.notAfter.toISOString(), i === 0 ? 'yes' : 'no'];
    }),
  );
}

export async function rotate(client: ControllerClient): Promise<string> {
  const body = (await client.call('POST', '/v1/ca/rotate')).json<{ roots: string[] }>();
  return `a new signing root was made; the bundle now holds ${body.roots.length} roots (old ones stay trusted until they expire)\n`;
}

/** Sends a CSR with a bootstrap token (not the admin token) and prints the certificate. */
export async function sign(client: ControllerClient, csrFile: string, token: string): Promise<string> {
  let csr: string;
  try {
    csr = readFileSync(csrFile === '-' ? 0 : csrFile, 'utf8');
  } catch (err) {
    throw new MeshError('NOT_FOUND', `cannot read the CSR file ${csrFile}: ${(err as Error).message}`);
  }
  const body = (await client.call('POST', '/v1/ca/sign', { csr }, { authorization: `Bearer ${token}` })).json<{ certificate: string }>();
  return body.certificate;
}
