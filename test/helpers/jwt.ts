// Issues JWTs for tests, signed with a key made here.
import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';

export interface TestIssuer {
  jwks: string;
  token(claims: Record<string, unknown>, opts?: { kid?: string }): string;
}

export function testIssuer(alg: 'ES256' | 'RS256', kid = 'k1'): TestIssuer {
  const { privateKey, publicKey } = alg === 'ES256' ? generateKeyPairSync('ec', { namedCurve: 'P-256' }) : generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = { ...(publicKey.export({ format: 'jwk' }) as Record<string, unknown>), kid, alg, use: 'sig' };
  return {
    jwks: JSON.stringify({ keys: [jwk] }),
    token: (claims, opts = {}) => signJwt(privateKey, alg, opts.kid ?? kid, claims),
  };
}

function signJwt(key: KeyObject, alg: 'ES256' | 'RS256', kid: string, claims: Record<string, unknown>): string {
  const head = Buffer.from(JSON.stringify({ alg, typ: 'JWT', kid })).toString('base64url');
  const body = Buffer.from(JSON.stringify(claims)).toString('base64url');
  const sig = sign('sha256', Buffer.from(`${head}.${body}`), alg === 'ES256' ? { key, dsaEncoding: 'ieee-p1363' } : key).toString('base64url');
  return `${head}.${body}.${sig}`;
}
