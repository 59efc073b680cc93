// Picks the route for a request: first route whose any-of matches hold, as Envoy does.
import type { CompiledHttpRoute, CompiledMatch, StringMatcher } from '../snapshot/types.js';
import { asciiCaseInsensitive } from './case-fold.js';
import { routeRegExp } from './linear-repetition.js';

export interface RequestFacts {
  method: string;
  /** Path without the query string, already normalised. */
  path: string;
  /** URLSearchParams, or anything that reads a parameter as it does (parsed only when a route asks). */
  query: { get(name: string): string | null };
  /** Lower-case header names. */
  headers: Record<string, string | string[] | undefined>;
  authority: string;
  scheme: string;
  port: number;
}

const regexCache = new Map<string, RegExp>();

/**
 * A route's regex, compiled once. Case-insensitive ones are written out with both cases of each
 * letter rather than the `i` flag, which V8's linear-time fallback for crafted inputs does not
 * take (case-fold.ts, proxy/main.ts); large repetitions likewise (linear-repetition.ts).
 */
function regex(source: string, ignoreCase: boolean): RegExp {
  const key = `${ignoreCase ? 'i' : ''}/${source}`;
  let re = regexCache.get(key);
  if (!re) {
    // Istio regexes are RE2 full matches.
    re = routeRegExp(`^(?:${ignoreCase ? asciiCaseInsensitive(source) : source})$`);
    if (regexCache.size > 10_000) regexCache.clear();
    regexCache.set(key, re);
  }
  return re;
}

export function stringMatches(m: StringMatcher, value: string | undefined, ignoreCase = false): boolean {
  if (value === undefined) return false;
  const v = ignoreCase ? value.toLowerCase() : value;
  if ('exact' in m) return v === (ignoreCase ? m.exact.toLowerCase() : m.exact);
  if ('prefix' in m) return v.startsWith(ignoreCase ? m.prefix.toLowerCase() : m.prefix);
  return regex(m.regex, ignoreCase).test(value);
}

function header(facts: RequestFacts, name: string): string | undefined {
  const v = facts.headers[name];
  return Array.isArray(v) ? v.join(',') : v;
}

export function matchHolds(m: CompiledMatch, f: RequestFacts): boolean {
  if (m.uri && !stringMatches(m.uri, f.path, m.ignoreUriCase)) return false;
  if (m.method && !stringMatches(m.method, f.method)) return false;
  if (m.authority && !stringMatches(m.authority, f.authority)) return false;
  if (m.scheme && !stringMatches(m.scheme, f.scheme)) return false;
  if (m.port && m.port !== f.port) return false;
  for (const [name, sm] of Object.entries(m.headers ?? {})) if (!stringMatches(sm, header(f, name))) return false;
  for (const [name, sm] of Object.entries(m.withoutHeaders ?? {})) if (stringMatches(sm, header(f, name))) return false;
  for (const [name, sm] of Object.entries(m.queryParams ?? {})) if (!stringMatches(sm, f.query.get(name) ?? undefined)) return false;
  return true;
}

export function selectRoute(routes: CompiledHttpRoute[], f: RequestFacts): CompiledHttpRoute | undefined {
  return routes.find((r) => r.match.length === 0 || r.match.some((m) => matchHolds(m, f)));
}

/** The host an authority names, as OutboundService.hosts lists it: lower case, no port, no trailing dot. */
export function hostOfAuthority(authority: string): string {
  return authority.toLowerCase().replace(/:\d+$/, '').replace(/\.$/, '');
}

/** Weighted choice; `roll` in [0, 100). */
export function pickWeighted<T extends { weight: number }>(items: T[], roll: number): T | undefined {
  let acc = 0;
  for (const it of items) {
    acc += it.weight;
    if (roll < acc) return it;
  }
  return items[items.length - 1];
}
