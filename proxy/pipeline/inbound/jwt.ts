// RequestAuthentication: a token that is present must verify (else 401); a request without one
// goes on, and AuthorizationPolicy decides whether one is required. The verified principal and
// claims are kept for authorization; the token is removed before forwarding unless the rule
// says forwardOriginalToken; the payload goes to the rule's outputPayloadToHeader and single
// claims to its outputClaimToHeaders.
import { authenticateJwt, type JwtOutcome, type KeyLookup } from '../../../core/policy/jwt.js';
import { claimHeaderValue } from '../../../core/policy/jwt-claims.js';
import type { CompiledJwtRule } from '../../../core/snapshot/types.js';
import { reply, type Exchange, type LocalReply, type RequestFilter } from '../filter.js';
import { RESPONSE_FLAGS } from '../response-flags.js';

/**
 * `keysFetched(rule)`: the fetch of the rule's JWKS URL under way, if any. A token whose keys are
 * still being fetched (the rule has just arrived, or the sidecar has just started) waits for them,
 * as Envoy holds such a request, rather than being refused; a URL that failed is not waited on.
 */
export function jwtAuthentication(rules: CompiledJwtRule[], keys: KeyLookup, keysFetched?: (rule: CompiledJwtRule) => Promise<void> | undefined): RequestFilter {
  const check = (x: Exchange): JwtOutcome => {
    const q = x.target.indexOf('?');
    return authenticateJwt(rules, x.headers, new URLSearchParams(q === -1 ? '' : x.target.slice(q + 1)), keys, Date.now() / 1000);
  };
  const decide = (x: Exchange, jwt: JwtOutcome): LocalReply | undefined => {
    if (jwt.error) return reply(401, RESPONSE_FLAGS.NONE, `${jwt.error}\n`);
    x.requestPrincipal = jwt.principal;
    x.claims = jwt.claims;
    if (jwt.rule && jwt.location?.header && !jwt.rule.forwardOriginalToken) delete x.forwardHeaders[jwt.location.header];
    if (jwt.rule?.outputPayloadToHeader && jwt.claims) x.forwardHeaders[jwt.rule.outputPayloadToHeader.toLowerCase()] = Buffer.from(JSON.stringify(jwt.claims)).toString('base64url');
    if (jwt.rule?.outputClaimToHeaders && jwt.claims)
      for (const { header, claim } of jwt.rule.outputClaimToHeaders) {
        const value = claimHeaderValue(jwt.claims, claim);
        if (value !== undefined) x.forwardHeaders[header] = value;
      }
    return undefined;
  };
  return {
    name: 'jwt-authn',
    onRequest: (x) => {
      const jwt = check(x);
      const fetching = jwt.keysMissing && keysFetched?.(jwt.keysMissing);
      return fetching ? fetching.then(() => decide(x, check(x))) : decide(x, jwt);
    },
  };
}
