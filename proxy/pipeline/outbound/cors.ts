// VirtualService corsPolicy, as Envoy's CORS filter: a preflight (OPTIONS with
// Access-Control-Request-Method) from an allowed origin is answered here with what the policy
// allows; an ordinary request from an allowed origin goes on, and its answer gets the
// Access-Control-* headers. Requests without an Origin, or from other origins, are left alone
// (an unmatched preflight is forwarded, or with unmatchedPreflights IGNORE answered without
// CORS headers).
import { stringMatches } from '../../../core/routing/match.js';
import type { CompiledHttpRoute } from '../../../core/snapshot/types.js';
import { RESPONSE_FLAGS } from '../response-flags.js';
import type { RouteFilter } from './route-filters.js';

export function cors(policy: NonNullable<CompiledHttpRoute['cors']>): RouteFilter {
  const allowed = (origin: string) => policy.allowOrigins.some((m) => ('exact' in m && m.exact === '*') || stringMatches(m, origin));
  const preflightHeaders = (origin: string): Record<string, string> => {
    const h: Record<string, string> = { 'access-control-allow-origin': origin, vary: 'origin' };
    if (policy.allowMethods.length > 0) h['access-control-allow-methods'] = policy.allowMethods.join(',');
    if (policy.allowHeaders.length > 0) h['access-control-allow-headers'] = policy.allowHeaders.join(',');
    if (policy.maxAgeSeconds !== undefined) h['access-control-max-age'] = String(policy.maxAgeSeconds);
    if (policy.allowCredentials) h['access-control-allow-credentials'] = 'true';
    return h;
  };
  return {
    name: 'cors',
    relayable: true,
    onRequest: (x) => {
      const origin = x.headers.origin;
      if (typeof origin !== 'string' || origin === '') return undefined;
      const preflight = x.method === 'OPTIONS' && x.headers['access-control-request-method'] !== undefined;
      if (!allowed(origin)) return preflight && !policy.forwardUnmatchedPreflights ? { status: 200, flags: RESPONSE_FLAGS.DIRECT_RESPONSE, body: '' } : undefined;
      if (preflight) return { status: 200, flags: RESPONSE_FLAGS.DIRECT_RESPONSE, body: '', headers: preflightHeaders(origin) };
      x.responseHooks.push((h) => {
        h['access-control-allow-origin'] = origin;
        h.vary = h.vary ? `${String(h.vary)}, origin` : 'origin';
        if (policy.exposeHeaders.length > 0) h['access-control-expose-headers'] = policy.exposeHeaders.join(',');
        if (policy.allowCredentials) h['access-control-allow-credentials'] = 'true';
      });
      return undefined;
    },
  };
}
