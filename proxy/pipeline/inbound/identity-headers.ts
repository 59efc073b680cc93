// The headers through which the sidecar tells the application something it checked (XFCC, each
// JWT rule's payload header) are the sidecar's alone: a caller's own copies are removed, whether
// or not the sidecar then sets them.
import type { RequestFilter } from '../filter.js';

export function stripIdentityHeaders(names: readonly string[]): RequestFilter {
  return {
    name: 'strip-identity-headers',
    onRequest: (x) => {
      for (const n of names) delete x.forwardHeaders[n];
      return undefined;
    },
  };
}
