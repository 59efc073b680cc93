// Local rate limit (LocalRateLimit), after authentication and authorization as in Envoy's
// filter chain, on the normalised path, so that `//x` or `/%78` cannot slip past a limit on `/x`.
import type { RequestFilter } from '../filter.js';
import { reply } from '../filter.js';
import { RESPONSE_FLAGS } from '../response-flags.js';
import { decisionPath } from './path-normalisation.js';
import type { RuntimeConfig } from '../../runtime-config.js';

export function localRateLimit(cfg: RuntimeConfig, appPort: number): RequestFilter {
  return {
    name: 'local-rate-limit',
    onRequest: (x) => {
      const path = decisionPath(x);
      const limited = cfg.rateLimited(
        {
          method: x.method,
          path,
          query: new URLSearchParams(x.forwardPath.slice(path.length)),
          headers: x.headers,
          authority: String(x.headers.host ?? ''),
          scheme: 'http',
          port: appPort,
        },
        performance.now(),
      );
      return limited ? reply(429, RESPONSE_FLAGS.RATE_LIMITED, 'local_rate_limited\n', { policy: limited }) : undefined;
    },
  };
}
