// AuthorizationPolicy (Istio's semantics, core/policy/authz.ts) on the normalised path.
import { authorize, type AuthzRequest } from '../../../core/policy/authz.js';
import type { InboundConfig } from '../../../core/snapshot/types.js';
import { reply, type Exchange, type RequestFilter } from '../filter.js';
import { RESPONSE_FLAGS } from '../response-flags.js';
import { decisionPath } from './path-normalisation.js';

/** What authorization decides on: the caller, the JWT it proved, and the request on its normalised path. */
export function authzRequest(x: Exchange, appPort: number): AuthzRequest {
  return {
    peerIdentity: x.peer,
    requestPrincipal: x.requestPrincipal,
    claims: x.claims,
    sourceIp: x.sourceIp,
    host: String(x.headers.host ?? ''),
    port: appPort,
    method: x.method,
    path: decisionPath(x),
    headers: x.headers,
  };
}

export function authorization(policies: InboundConfig['authorization'], appPort: number): RequestFilter {
  return {
    name: 'authorization',
    onRequest: (x) => {
      const decision = authorize(policies, authzRequest(x, appPort));
      return decision.allowed ? undefined : reply(403, RESPONSE_FLAGS.RBAC_DENIED, 'RBAC: access denied\n', { policy: decision.policy });
    },
  };
}
