// AuthorizationPolicy (Istio's semantics, core/policy/authz.ts) on the normalised path; dry-run
// policies are evaluated beside the enforced ones and only reported.
import { authorize, dryRunDecisions, type AuthzRequest, type ShadowDecision } from '../../../core/policy/authz.js';
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

/** Told what each dry-run policy set would have decided for a request; nothing is enforced. */
export type DryRunRecorder = (d: ShadowDecision, x: Exchange) => void;

export function authorization(policies: InboundConfig['authorization'], appPort: number, recordDryRun?: DryRunRecorder): RequestFilter {
  const enforced = policies.deny.length + policies.allow.length + policies.audit.length > 0;
  const dryRun = policies.dryRun;
  return {
    name: 'authorization',
    onRequest: (x) => {
      const request = authzRequest(x, appPort);
      if (dryRun) for (const d of dryRunDecisions(dryRun, request)) recordDryRun?.(d, x);
      if (!enforced) return undefined;
      const decision = authorize(policies, request);
      return decision.allowed ? undefined : reply(403, RESPONSE_FLAGS.RBAC_DENIED, 'RBAC: access denied\n', { policy: decision.policy });
    },
  };
}
