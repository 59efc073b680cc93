// Bootstrap tokens: a short-lived, HMAC-signed statement "the holder may obtain a certificate for
// service S in namespace N until T". Stateless, so every controller sharing the key accepts them.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { MeshError } from './errors.js';

export interface BootstrapClaims {
  service: string;
  namespace: string;
  /** The identity's service account (SPIFFE `sa/`); absent: the service name. */
  serviceAccount?: string;
  /** Expiry, seconds since the epoch. */
  exp: number;
  /** Random id, for logs. */
  jti: string;
}

const PREFIX = 'mbt1';

export function createBootstrapToken(key: Buffer, claims: Omit<BootstrapClaims, 'jti'>): string {
  const payload = Buffer.from(JSON.stringify({ ...claims, jti: randomBytes(8).toString('hex') })).toString('base64url');
  return `${PREFIX}.${payload}.${mac(key, payload)}`;
}

export function verifyBootstrapToken(key: Buffer, token: string, nowMs: number): BootstrapClaims {
  const parts = token.split('.');
  if (parts.length !== 3 || parts[0] !== PREFIX) throw new MeshError('UNAUTHENTICATED', 'the bootstrap token is malformed; create one with `meshctl token create --service NAME`');
  const expected = Buffer.from(mac(key, parts[1]));
  const given = Buffer.from(parts[2]);
  if (expected.length !== given.length || !timingSafeEqual(expected, given)) throw new MeshError('UNAUTHENTICATED', 'the bootstrap token was not issued by this mesh (bad signature)');
  const claims = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8')) as BootstrapClaims;
  if (claims.exp * 1000 < nowMs) throw new MeshError('UNAUTHENTICATED', `the bootstrap token for ${claims.service} expired at ${new Date(claims.exp * 1000).toISOString()}; create a new one`);
  return claims;
}

function mac(key: Buffer, payload: string): string {
  return createHmac('sha256', key).update(payload).digest('base64url');
}
