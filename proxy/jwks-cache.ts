// JWKS for RequestAuthentication: inline ones are parsed once; jwksUri ones are fetched in the
// background and refreshed, and the last good copy is kept when a refresh fails.
import type { JsonWebKey } from 'node:crypto';
import { parseJwks } from '../core/policy/jwt.js';
import type { CompiledJwtRule } from '../core/snapshot/types.js';

const REFRESH_MS = 5 * 60_000;
const RETRY_MS = 5_000;
/** A JWKS URL that does not answer within this (or the rule's `timeout`) is given up on until the next try. */
const FETCH_TIMEOUT_MS = 5_000;

interface RemoteKeys {
  keys?: JsonWebKey[];
  fetchedAt: number;
  /** The fetch under way: requests whose keys are not here yet wait for it. */
  inFlight?: Promise<void>;
}

export class JwksCache {
  private readonly inline = new Map<string, JsonWebKey[] | undefined>();
  private readonly remote = new Map<string, RemoteKeys>();

  keys = (rule: CompiledJwtRule): JsonWebKey[] | undefined => {
    if (rule.jwks !== undefined) {
      if (!this.inline.has(rule.jwks)) this.inline.set(rule.jwks, parseJwks(rule.jwks));
      return this.inline.get(rule.jwks);
    }
    if (!rule.jwksUri) return undefined;
    const entry = this.entry(rule.jwksUri);
    const age = Date.now() - entry.fetchedAt;
    if (!entry.inFlight && (age > REFRESH_MS || (!entry.keys && age > RETRY_MS))) this.fetch(rule, entry);
    return entry.keys;
  };

  /**
   * The fetch of a rule's JWKS URL that a request without its keys can wait for: the one under
   * way, or one started now if the URL has never been asked. Undefined when the keys are here or
   * the last fetch failed less than RETRY_MS ago (the request is refused then, not held).
   */
  keysFetched = (rule: CompiledJwtRule): Promise<void> | undefined => {
    if (!rule.jwksUri) return undefined;
    const entry = this.entry(rule.jwksUri);
    if (entry.keys) return undefined;
    if (!entry.inFlight && entry.fetchedAt === 0) this.fetch(rule, entry);
    return entry.inFlight;
  };

  /** Fetches every jwksUri a snapshot names, so that the first request does not find them missing. */
  async prefetch(rules: CompiledJwtRule[]): Promise<void> {
    await Promise.all(
      rules
        .filter((r) => r.jwksUri)
        .map((r) => {
          const entry = this.entry(r.jwksUri!);
          return entry.keys ? undefined : (entry.inFlight ?? this.fetch(r, entry));
        }),
    );
  }

  private entry(uri: string): RemoteKeys {
    let entry = this.remote.get(uri);
    if (!entry) this.remote.set(uri, (entry = { fetchedAt: 0 }));
    return entry;
  }

  /** Never rejects: a failed fetch keeps the last good keys. */
  private fetch(rule: CompiledJwtRule, entry: RemoteKeys): Promise<void> {
    const run = async () => {
      try {
        const res = await fetch(rule.jwksUri!, { signal: AbortSignal.timeout(rule.jwksTimeoutMs ?? FETCH_TIMEOUT_MS) });
        const keys = res.ok ? parseJwks(await res.text()) : undefined;
        if (keys) entry.keys = keys;
      } catch {
        // keep the last good keys
      } finally {
        entry.fetchedAt = Date.now();
        entry.inFlight = undefined;
      }
    };
    entry.inFlight = run();
    return entry.inFlight;
  }
}
