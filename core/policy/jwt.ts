// RequestAuthentication: find a JWT where the rules say, check its signature (RS256, ES256) with
// the issuer's JWKS, its issuer, audience and times. Istio's semantics: a request without a token
// passes (AuthorizationPolicy decides whether one is required); a request with a bad token is
// refused with 401.
import { createPublicKey, verify, type JsonWebKey, type KeyObject } from 'node:crypto';
import type { CompiledJwtRule } from '../snapshot/types.js';
import { cookieValue } from './cookies.js';

export interface JwtOutcome {
  /** undefined: no token was present. */
  principal?: string;
  claims?: Record<string, unknown>;
  rule?: CompiledJwtRule;
  /** Where the token was found, so that it can be removed before forwarding. */
  location?: { header?: string; param?: string; cookie?: string };
  /** Set when a token was present and is not acceptable. */
  error?: string;
  /** The rule whose keys are not here (yet): its JWKS URL has not answered. */
  keysMissing?: CompiledJwtRule;
}

export type KeyLookup = (rule: CompiledJwtRule) => JsonWebKey[] | undefined;

const ALGORITHMS: Record<string, { hash: string; kty: string; encoding?: 'ieee-p1363' }> = {
  RS256: { hash: 'sha256', kty: 'RSA' },
  ES256: { hash: 'sha256', kty: 'EC', encoding: 'ieee-p1363' },
};

const CLOCK_SKEW_S = 60;

export function authenticateJwt(rules: CompiledJwtRule[], headers: Record<string, string | string[] | undefined>, query: URLSearchParams, keys: KeyLookup, nowS: number): JwtOutcome {
  if (rules.length === 0) return {};
  const found = findToken(rules, headers, query);
  if (!found) return {};
  const parts = found.token.split('.');
  if (parts.length !== 3) return { error: 'Jwt is not in the form of Header.Payload.Signature', location: found.location };
  let header: { alg?: string; kid?: string };
  let claims: Record<string, unknown>;
  try {
    header = JSON.parse(Buffer.from(parts[0], 'base64url').toString('utf8')) as typeof header;
    claims = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8')) as Record<string, unknown>;
  } catch {
    return { error: 'Jwt header or payload is not valid base64url JSON', location: found.location };
  }
  const rule = rules.find((r) => r.issuer === claims.iss);
  if (!rule) return { error: `Jwt issuer ${String(claims.iss)} is not configured`, location: found.location };
  const alg = ALGORITHMS[header.alg ?? ''];
  if (!alg) return { error: `Jwt algorithm ${String(header.alg)} is not supported (RS256, ES256)`, location: found.location };
  const jwks = keys(rule);
  if (!jwks) return { error: `Jwks for issuer ${rule.issuer} is not available yet`, location: found.location, keysMissing: rule };
  const candidates = jwks.filter((k) => k.kty === alg.kty && (header.kid === undefined || k.kid === undefined || k.kid === header.kid));
  const signed = Buffer.from(`${parts[0]}.${parts[1]}`);
  const signature = Buffer.from(parts[2], 'base64url');
  const ok = candidates.some((jwk) => {
    try {
      const key: KeyObject = createPublicKey({ key: jwk, format: 'jwk' });
      return verify(alg.hash, signed, alg.encoding ? { key, dsaEncoding: alg.encoding } : key, signature);
    } catch {
      return false;
    }
  });
  if (!ok) return { error: 'Jwt verification fails', location: found.location };
  if (typeof claims.exp === 'number' && claims.exp + CLOCK_SKEW_S < nowS) return { error: 'Jwt is expired', location: found.location };
  if (typeof claims.nbf === 'number' && claims.nbf - CLOCK_SKEW_S > nowS) return { error: 'Jwt not yet valid', location: found.location };
  if (rule.audiences.length > 0) {
    const aud = Array.isArray(claims.aud) ? claims.aud.map(String) : claims.aud === undefined ? [] : [String(claims.aud)];
    if (!aud.some((a) => rule.audiences.includes(a))) return { error: 'Audiences in Jwt are not allowed', location: found.location };
  }
  return { principal: `${String(claims.iss)}/${String(claims.sub ?? '')}`, claims, rule, location: found.location };
}

function findToken(rules: CompiledJwtRule[], headers: Record<string, string | string[] | undefined>, query: URLSearchParams): { token: string; location: JwtOutcome['location'] } | undefined {
  for (const r of rules) {
    for (const h of r.fromHeaders) {
      const v = headers[h.name];
      const value = Array.isArray(v) ? v[0] : v;
      if (value !== undefined && value.startsWith(h.prefix)) return { token: value.slice(h.prefix.length).trim(), location: { header: h.name } };
    }
    for (const p of r.fromParams) {
      const v = query.get(p);
      if (v) return { token: v, location: { param: p } };
    }
    for (const c of r.fromCookies ?? []) {
      const v = cookieValue(headers.cookie, c);
      if (v) return { token: v, location: { cookie: c } };
    }
  }
  return undefined;
}

/** Parses a JWKS document's keys; undefined when it is not one. */
export function parseJwks(text: string): JsonWebKey[] | undefined {
  try {
    const doc = JSON.parse(text) as { keys?: unknown };
    return Array.isArray(doc.keys) ? (doc.keys as JsonWebKey[]) : undefined;
  } catch {
    return undefined;
  }
}
