// A gateway's TLS credential (Istio's credentialName secret): a certificate chain, its private
// key and, for mutual TLS, the CA bundle that client certificates must chain to. Checked before
// it is stored, every problem named with its field, so a gateway never starts on a bad one.
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { MeshError, validationFailed, type Violation } from '../errors.js';

export interface TlsCredential {
  /** PEM: the server certificate first, then any intermediates. */
  cert: string;
  /** PEM private key of the first certificate. */
  key: string;
  /** PEM bundle of the CAs a client certificate must chain to (MUTUAL); absent: SIMPLE only. */
  ca?: string;
}

export interface TlsCredentialInfo {
  /** The server certificate's DNS names (subjectAltName), for people choosing hosts. */
  dnsNames: string[];
  notAfter: string;
  hasCa: boolean;
}

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** The certificates of a PEM bundle, or the problem with it. */
function certificates(pem: string, field: string, out: Violation[]): X509Certificate[] {
  const blocks = pem.match(PEM_CERT) ?? [];
  if (blocks.length === 0) {
    out.push({ path: field, message: 'holds no PEM certificate (-----BEGIN CERTIFICATE-----)' });
    return [];
  }
  const certs: X509Certificate[] = [];
  blocks.forEach((b, i) => {
    try {
      certs.push(new X509Certificate(b));
    } catch (err) {
      out.push({ path: field, message: `certificate ${i + 1} cannot be read: ${(err as Error).message}` });
    }
  });
  return certs;
}

export function checkTlsCredential(input: unknown): { credential: TlsCredential; info: TlsCredentialInfo } {
  const out: Violation[] = [];
  const o = (typeof input === 'object' && input !== null ? input : {}) as Record<string, unknown>;
  for (const f of ['cert', 'key'] as const) if (typeof o[f] !== 'string' || o[f] === '') out.push({ path: f, message: 'is required: PEM text' });
  if (o.ca !== undefined && typeof o.ca !== 'string') out.push({ path: 'ca', message: 'must be PEM text' });
  if (out.length > 0) throw validationFailed('the TLS credential', out);
  const chain = certificates(o.cert as string, 'cert', out);
  let key;
  try {
    key = createPrivateKey(o.key as string);
  } catch (err) {
    out.push({ path: 'key', message: `is not a PEM private key: ${(err as Error).message}` });
  }
  if (chain[0] && key && !chain[0].checkPrivateKey(key)) out.push({ path: 'key', message: 'does not belong to the first certificate of cert' });
  const notAfter = chain[0] ? Date.parse(chain[0].validTo) : NaN;
  if (chain[0] && Number.isNaN(notAfter)) out.push({ path: 'cert', message: `has an unreadable expiry date ("${chain[0].validTo}")` });
  else if (notAfter < Date.now()) out.push({ path: 'cert', message: `expired on ${new Date(notAfter).toISOString()}` });
  if (typeof o.ca === 'string') certificates(o.ca, 'ca', out);
  if (out.length > 0) throw validationFailed('the TLS credential', out);
  const leaf = chain[0];
  const dnsNames = (leaf.subjectAltName ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.startsWith('DNS:'))
    .map((s) => s.slice(4));
  return {
    credential: { cert: o.cert as string, key: o.key as string, ...(typeof o.ca === 'string' ? { ca: o.ca } : {}) },
    info: { dnsNames, notAfter: new Date(notAfter).toISOString(), hasCa: typeof o.ca === 'string' },
  };
}

export function credentialNotFound(namespace: string, name: string): MeshError {
  return new MeshError('NOT_FOUND', `no TLS credential "${name}" in namespace "${namespace}"; create it with: meshctl secret create tls ${name} -n ${namespace} --cert FILE --key FILE [--ca FILE]`);
}
