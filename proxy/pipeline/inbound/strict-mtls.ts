// PeerAuthentication STRICT: a plaintext request ends its connection. Plaintext connections are
// refused at the listener under STRICT; this catches one opened while the port was PERMISSIVE.
import type { RequestFilter } from '../filter.js';

export function strictMtls(log?: (line: Record<string, unknown>) => void): RequestFilter {
  return {
    name: 'strict-mtls',
    onRequest: (x) => {
      if (x.peer) return undefined;
      log?.({ direction: 'inbound', refused: 'plaintext request under STRICT mTLS', peer: x.sourceIp });
      return 'close';
    },
  };
}
