// RequestAuthentication: a token that is present must verify (else 401); a request without one
// goes on, and AuthorizationPolicy decides whether one is required. The verified principal and
// claims are kept for authorization; the token is removed before forwarding unless the rule
// says forwardOriginalToken; the payload goes to the rule's outputPayloadToHeader.
import { authenticateJwt, type KeyLookup } from '../../../core/policy/jwt.js';
import type { CompiledJwtRule } from '../../../core/snapshot/types.js';
import { reply, type RequestFilter } from '../filter.js';
import { RESPONSE_FLAGS } from '../response-flags.js';

export function jwtAuthentication(rules: CompiledJwtRule[], keys: KeyLookup): RequestFilter {
  return {
    name: 'jwt-authn',
    onRequest: (x) => {
      const q = x.target.indexOf('?');
      const jwt = authenticateJwt(rules, x.headers, new URLSearchParams(q === -1 ? '' : x.target.slice(q + 1)), keys, Date.now() / 1000);
      if (jwt.error) return reply(401, RESPONSE_FLAGS.NONE, `${jwt.error}\n`);
      x.requestPrincipal = jwt.principal;
      x.claims = jwt.claims;
      if (jwt.rule && jwt.location?.header && !jwt.rule.forwardOriginalToken) delete x.forwardHeaders[jwt.location.header];
      if (jwt.rule?.outputPayloadToHeader && jwt.claims) x.forwardHeaders[jwt.rule.outputPayloadToHeader.toLowerCase()] = Buffer.from(JSON.stringify(jwt.claims)).toString('base64url');
      return undefined;
    },
  };
}
