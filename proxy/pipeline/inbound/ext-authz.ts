// AuthorizationPolicy CUSTOM (Istio's envoyExtAuthzHttp provider): a request that a CUSTOM
// policy's rules match is first put to the external authorizer, as Envoy's ext_authz filter
// does, before DENY and ALLOW policies are looked at. A 2xx answer lets it go on (with the
// provider's headersToUpstreamOnAllow copied to the request); any other answer is relayed to the
// caller (status, body, headersToDownstreamOnDeny). An authorizer that cannot be reached fails
// closed with statusOnError, unless the provider says failOpen. The one filter that needs I/O.
import { authorize } from '../../../core/policy/authz.js';
import type { ExtAuthzHttpProvider } from '../../../core/mesh-config.js';
import type { CompiledCustomPolicy } from '../../../core/snapshot/types.js';
import { reply, type Exchange, type RequestFilter } from '../filter.js';
import { RESPONSE_FLAGS } from '../response-flags.js';
import { authzRequest } from './authorization.js';

export interface CheckRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
}

export interface CheckAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** Sends a check to a provider (proxy/ext-authz-client.ts); rejects when no answer came in time. */
export type ExtAuthzCall = (provider: ExtAuthzHttpProvider, check: CheckRequest) => Promise<CheckAnswer>;

/**
 * Headers always sent, besides the provider's includeRequestHeadersInCheck (Envoy sends these
 * too). Content-Length is not: the check carries no body, and a length without one is malformed.
 */
const ALWAYS_SENT = ['host', 'authorization'];

export function extAuthz(policies: CompiledCustomPolicy[], call: ExtAuthzCall | undefined, appPort: number): RequestFilter {
  const matches = (p: CompiledCustomPolicy, x: Exchange) => authorize({ deny: [], allow: [p], audit: [] }, authzRequest(x, appPort)).allowed;
  return {
    name: 'ext-authz',
    onRequest: (x) => {
      const policy = policies.find((p) => matches(p, x));
      if (!policy) return undefined;
      const provider = policy.provider;
      const details = { policy: policy.name, provider: policy.providerName };
      if (!provider || !call) return reply(403, RESPONSE_FLAGS.UNAUTHORIZED_EXTERNAL, `the authorization provider "${policy.providerName}" is not in the controller's mesh config\n`, details);
      return call(provider, checkRequest(x, provider)).then(
        (answer) => {
          if (answer.status >= 200 && answer.status < 300) {
            for (const name of provider.headersToUpstreamOnAllow) {
              const v = answer.headers[name];
              if (v !== undefined) x.forwardHeaders[name] = v;
            }
            return undefined;
          }
          const headers: Record<string, string> = {};
          for (const name of provider.headersToDownstreamOnDeny) {
            const v = answer.headers[name];
            if (v !== undefined) headers[name] = Array.isArray(v) ? v.join(', ') : v;
          }
          return { status: answer.status, flags: RESPONSE_FLAGS.UNAUTHORIZED_EXTERNAL, body: answer.body, headers, details };
        },
        (err: Error) => (provider.failOpen ? undefined : reply(provider.statusOnError, RESPONSE_FLAGS.UNAUTHORIZED_EXTERNAL, `external authorization failed: ${err.message}\n`, details)),
      );
    },
  };
}

/** The check: the request's method and path (after the provider's prefix) and the headers the provider asks for. */
export function checkRequest(x: Exchange, provider: ExtAuthzHttpProvider): CheckRequest {
  const headers: Record<string, string> = {};
  for (const name of [...ALWAYS_SENT, ...provider.includeRequestHeadersInCheck]) {
    const v = x.headers[name];
    if (v !== undefined) headers[name] = Array.isArray(v) ? v.join(', ') : v;
  }
  Object.assign(headers, provider.includeAdditionalHeadersInCheck);
  return { method: x.method, path: provider.pathPrefix + x.forwardPath, headers };
}
