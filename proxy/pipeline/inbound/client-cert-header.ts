// Tells the application who called, as Envoy's x-forwarded-client-cert does: this workload's
// identity and the caller's verified SPIFFE ID. Set only for mTLS callers.
import type { RequestFilter } from '../filter.js';

export function clientCertHeader(ownIdentity: string): RequestFilter {
  return {
    name: 'client-cert-header',
    onRequest: (x) => {
      if (x.peer) x.forwardHeaders['x-forwarded-client-cert'] = `By=${ownIdentity};URI=${x.peer}`;
      return undefined;
    },
  };
}
