// JWKS for RequestAuthentication: inline ones are parsed once; jwksUri ones are fetched in the
// background and refreshed, and the last good copy is kept when a refresh fails.
import type { JsonWebKey } from 'node:crypto';
import { parseJwks } from '../core/policy/jwt.js';
import type { CompiledJwtRule } from '../core/snapshot/types.js';

const REFRESH_MS = 5 * 60_000;
const RETRY_MS = 5_000;

export class JwksCache {
  private readonly inline = new Map<string, JsonWebKey[] | undefined>();
  private readonly remote = new Map<string, { keys?: JsonWebKey[]; fetchedAt: number; inFlight: boolean }>();

  keys = (rule: CompiledJwtRule): JsonWebKey[] | undefined => {
    if (rule.jwks !== undefined) {
      if (!this.inline.has(rule.jwks)) this.inline.set(rule.jwks, parseJwks(rule.jwks));
      return this.inline.get(rule.jwks);
    }
    if (!rule.jwksUri) return undefined;
    const entry = this.remote.get(rule.jwksUri) ?? { fetchedAt: 0, inFlight: false };
    this.remote.set(rule.jwksUri, entry);
    const age = Date.now() - entry.fetchedAt;
    if (!entry.inFlight && (age > REFRESH_MS || (!entry.keys && age > RETRY_MS))) void this.fetch(rule.jwksUri, entry);
    return entry.keys;
  };

  /** Fetches every jwksUri a snapshot names, so that the first request does not find them missing. */
  async prefetch(rules: CompiledJwtRule[]): Promise<void> {
    await Promise.all(
      rules
        .filter((r) => r.jwksUri)
        .map((r) => {
          const entry = this.remote.get(r.jwksUri!) ?? { fetchedAt: 0, inFlight: false };
          this.remote.set(r.jwksUri!, entry);
          return entry.keys || entry.inFlight ? undefined : this.fetch(r.jwksUri!, entry);
        }),
    );
  }

  private async fetch(uri: string, entry: { keys?: JsonWebKey[]; fetchedAt: number; inFlight: boolean }): Promise<void> {
    entry.inFlight = true;
    try {
      const res = await fetch(uri, { signal: AbortSignal.timeout(5000) });
      const keys = res.ok ? parseJwks(await res.text()) : undefined;
      if (keys) entry.keys = keys;
    } catch {
      // keep the last good keys
    } finally {
      entry.fetchedAt = Date.now();
      entry.inFlight = false;
    }
  }
}
