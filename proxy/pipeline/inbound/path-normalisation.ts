// The path is normalised once, before any decision, and the normalised path is what is matched
// and what is forwarded (the 2019-2021 Istio/Envoy bypasses matched one form and forwarded another).
import { normalisePath } from '../../../core/policy/paths.js';
import { reply, type RequestFilter } from '../filter.js';
import { RESPONSE_FLAGS } from '../response-flags.js';

export const pathNormalisation: RequestFilter = {
  name: 'path-normalisation',
  onRequest: (x) => {
    const q = x.target.indexOf('?');
    const normal = normalisePath(q === -1 ? x.target : x.target.slice(0, q));
    if (!normal.path) return reply(400, RESPONSE_FLAGS.DOWNSTREAM_PROTOCOL_ERROR, `bad request path: ${normal.reason}\n`);
    x.forwardPath = normal.path + (q === -1 ? '' : x.target.slice(q));
    return undefined;
  },
};

/** The normalised path without its query, as decisions match it. */
export function decisionPath(x: { forwardPath: string }): string {
  const q = x.forwardPath.indexOf('?');
  return q === -1 ? x.forwardPath : x.forwardPath.slice(0, q);
}
