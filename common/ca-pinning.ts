// Getting the controller's CA bundle onto a new host without copying a file: the admin copies the
// root's fingerprint from `meshctl ca roots` (as with an SSH host key), and the agent fetches the
// bundle. The first fetch cannot be trusted (nothing verifies the controller yet), so it only
// finds the root with that fingerprint; the bundle is then fetched again over TLS verified
// against that root alone, so that a machine in the middle can neither hide the real root nor
// slip in one of its own.
import { createHash, X509Certificate } from 'node:crypto';
import { request } from 'node:https';
import { MeshError } from '../core/errors.js';

/** `AB:CD:...` (openssl's form), lower-case or without colons, with or without `SHA256:`: all the same. */
export function normaliseFingerprint(text: string): string | undefined {
  const hex = text
    .trim()
    .replace(/^sha256:/i, '')
    .replace(/:/g, '')
    .toLowerCase();
  return /^[0-9a-f]{64}$/.test(hex) ? hex : undefined;
}

/** The SHA-256 fingerprint of a PEM certificate, as openssl x509 -fingerprint -sha256 prints it. */
export function certificateFingerprint(pem: string): string {
  const der = new X509Certificate(pem).raw;
  return createHash('sha256')
    .update(der)
    .digest('hex')
    .toUpperCase()
    .replace(/(..)(?!$)/g, '$1:');
}

function fetchRoots(controllerUrl: string, ca: string | undefined): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const url = new URL('/v1/ca/roots', controllerUrl);
    const req = request(url, { method: 'GET', timeout: 10_000, ...(ca ? { ca } : { rejectUnauthorized: false }) }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        try {
          const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { roots?: unknown };
          if (res.statusCode !== 200 || !Array.isArray(body.roots) || !body.roots.every((r) => typeof r === 'string')) throw new Error(`answered ${res.statusCode} without a list of roots`);
          resolve(body.roots as string[]);
        } catch (err) {
          reject(err as Error);
        }
      });
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end();
  });
}

/** The CA bundle of the controller at `controllerUrl`, trusted because one root has `fingerprint`. */
export async function fetchPinnedBundle(controllerUrl: string, fingerprint: string): Promise<string> {
  const pinned = normaliseFingerprint(fingerprint);
  if (!pinned) throw new MeshError('INVALID_ARGUMENT', `--ca-fingerprint: "${fingerprint}" is not a SHA-256 fingerprint; copy it from \`meshctl ca roots\` (64 hex digits, colons allowed)`);
  const fail = (why: string, cause?: unknown) => new MeshError('UNAVAILABLE', `cannot get the CA bundle from ${controllerUrl}: ${why}`, cause ? { cause } : {});
  const offered = await fetchRoots(controllerUrl, undefined).catch((err: Error) => {
    throw fail(err.message, err);
  });
  const root = offered.find((pem) => {
    try {
      return normaliseFingerprint(certificateFingerprint(pem)) === pinned;
    } catch {
      return false;
    }
  });
  if (!root)
    throw new MeshError(
      'PERMISSION_DENIED',
      `no root the controller at ${controllerUrl} offers has the fingerprint ${fingerprint}; check it with \`meshctl ca roots\` on a host that trusts the controller`,
    );
  const bundle = await fetchRoots(controllerUrl, root).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ERR_TLS_CERT_ALTNAME_INVALID')
      throw fail(`its API certificate does not name ${new URL(controllerUrl).hostname}; start the controller with --api-name ${new URL(controllerUrl).hostname} (${err.message})`, err);
    throw fail(`its certificate does not chain to the pinned root (${err.message})`, err);
  });
  if (!bundle.includes(root)) throw fail('the verified bundle no longer holds the pinned root');
  return bundle.join('');
}
