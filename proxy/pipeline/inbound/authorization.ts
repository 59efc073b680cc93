// AuthorizationPolicy (Istio's semantics, core/policy/authz.ts) on the normalised path.
import { authorize } from '../../../core/policy/authz.js';
import type { InboundConfig } from '../../../core/snapshot/types.js';
import { reply, type RequestFilter } from '../filter.js';
import { RESPONSE_FLAGS } from '../response-flags.js';
import { decisionPath } from './path-normalisation.js';

export function authorization(policies: InboundConfig['authorization'], appPort: number): RequestFilter {
  return {
    name: 'authorization',
    onRequest: (x) => {
      const decision = authorize(policies, {
        peerIdentity: x.peer,
        requestPrincipal: x.requestPrincipal,
        claims: x.claims,
        sourceIp: x.sourceIp,
        host: String(x.headers.host ?? ''),
        port: appPort,
        method: x.method,
        path: decisionPath(x),
        headers: x.headers,
      });
      return decision.allowed ? undefined : reply(403, RESPONSE_FLAGS.RBAC_DENIED, 'RBAC: access denied\n', { policy: decision.policy });
    },
  };
}
