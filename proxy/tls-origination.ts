// The TLS options of a connection to an endpoint, from the one transport decision
// (core/routing/transport.ts): the mesh identity for mTLS to a sidecar, or the CA, client
// certificate and key files a DestinationRule names for TLS the sidecar originates. A file that
// cannot be read fails the connection with a sentence that names it; nothing falls back to
// plaintext.
import { readFileSync, statSync } from 'node:fs';
import { checkServerIdentity, createSecureContext, type ConnectionOptions, type PeerCertificate, type SecureContext } from 'node:tls';
import type { UpstreamTransport } from '../core/routing/transport.js';
import { uriSans } from '../core/pki/spiffe.js';
import type { IdentityMaterial } from './identity.js';

export class OriginationError extends Error {
  readonly code = 'TLS_ORIGINATION';
}

/** TLS options for `tls.connect` (and undici's `connect`), or undefined for plaintext. */
export function tlsOptionsFor(t: UpstreamTransport, identity: IdentityMaterial | undefined, alpn: string[]): ConnectionOptions | undefined {
  if (t.kind === 'plaintext') return undefined;
  if (t.kind === 'mesh-mtls') {
    const expected = t.expectedIds;
    return {
      ...(identity ? { secureContext: meshContext(identity) } : {}),
      ALPNProtocols: alpn,
      checkServerIdentity: (_host: string, cert: PeerCertificate) => spiffeMismatch(cert, expected),
    };
  }
  const names = t.verifyNames;
  // Outside the mesh only the standard protocols are offered (never the mesh's own mesh-tcp).
  const standard = alpn.filter((p) => p === 'h2' || p === 'http/1.1');
  return {
    servername: t.servername,
    ALPNProtocols: standard.length > 0 ? standard : undefined,
    // Without caCertificates: the system's trust store, as Envoy under Istio does.
    secureContext: filesContext({ caCertificates: t.caCertificates, ...(t.mutual ? { clientCertificate: t.clientCertificate, privateKey: t.privateKey } : {}) }),
    rejectUnauthorized: !t.insecureSkipVerify,
    checkServerIdentity: t.insecureSkipVerify ? () => undefined : (_host: string, cert: PeerCertificate) => namesMismatch(cert, names),
  };
}

/**
 * The mesh identity's TLS context, made once per identity (renewal and a new trust bundle
 * replace the material object, so they get a new one). Made per connection, parsing the key,
 * certificate and bundle cost about a millisecond of CPU, as much as the handshake itself.
 */
const meshContexts = new WeakMap<IdentityMaterial, SecureContext>();

function meshContext(identity: IdentityMaterial): SecureContext {
  let context = meshContexts.get(identity);
  if (!context) {
    context = createSecureContext({ cert: identity.certPem, key: identity.keyPem, ca: identity.trustBundle });
    meshContexts.set(identity, context);
  }
  return context;
}

type CredentialFiles = Partial<Record<'caCertificates' | 'clientCertificate' | 'privateKey', string>>;

interface FilesContext {
  context: SecureContext;
  /** The files' identity when read: inode, size and modification time of each. */
  stamp: string;
  checkedAt: number;
}

const filesContexts = new Map<string, FilesContext>();
export const CREDENTIAL_RECHECK_MS = 1000;

/**
 * A DestinationRule's credential files as a TLS context, read and parsed once and again only when
 * a file changes, which is looked at (stat) at most once a second: reading and parsing them for
 * every new connection blocked the event loop on file I/O and cost as much CPU as the handshake.
 * A certificate rotated in place reaches the connections made a second later.
 */
function filesContext(files: CredentialFiles): SecureContext | undefined {
  const named = (Object.entries(files) as [keyof CredentialFiles, string | undefined][]).filter((e): e is [keyof CredentialFiles, string] => e[1] !== undefined);
  if (named.length === 0) return undefined;
  const key = JSON.stringify(named);
  const now = Date.now();
  const cached = filesContexts.get(key);
  if (cached && now - cached.checkedAt < CREDENTIAL_RECHECK_MS) return cached.context;
  const stamp = named.map(([field, file]) => fileStamp(file, field)).join('|');
  if (cached && cached.stamp === stamp) {
    cached.checkedAt = now;
    return cached.context;
  }
  const pem = (field: keyof CredentialFiles) => (files[field] === undefined ? undefined : readPem(files[field], field));
  let context: SecureContext;
  try {
    context = createSecureContext({ ca: pem('caCertificates'), cert: pem('clientCertificate'), key: pem('privateKey') });
  } catch (err) {
    if (err instanceof OriginationError) throw err;
    throw new OriginationError(`DestinationRule tls files ${named.map(([, f]) => f).join(', ')} cannot be used: ${(err as Error).message}`, { cause: err });
  }
  filesContexts.set(key, { context, stamp, checkedAt: now });
  return context;
}

function fileStamp(file: string, field: string): string {
  try {
    const st = statSync(file);
    return `${st.ino}:${st.size}:${st.mtimeMs}`;
  } catch (err) {
    throw unreadable(file, field, err);
  }
}

function readPem(file: string, field: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw unreadable(file, field, err);
  }
}

function unreadable(file: string, field: string, err: unknown): OriginationError {
  return new OriginationError(`DestinationRule tls.${field} ${file} cannot be read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
}

/** The peer proves the destination's identity by its SPIFFE ID, not by a DNS name. */
export function spiffeMismatch(cert: PeerCertificate, expected: string[]): Error | undefined {
  const uris = uriSans(cert.subjectaltname);
  if (expected.length === 0 || uris.some((u) => expected.includes(u))) return undefined;
  return new Error(`upstream presented ${uris.join(', ') || 'no identity'}, expected ${expected.join(' or ')}`);
}

/** An originated connection's server must be one of `names` (host names, with Node's wildcard rules). */
function namesMismatch(cert: PeerCertificate, names: string[]): Error | undefined {
  const errors = names.map((n) => checkServerIdentity(n, cert));
  return errors.every((e) => e !== undefined) ? new Error(`upstream certificate names none of ${names.join(', ')}: ${errors[0]!.message}`) : undefined;
}
