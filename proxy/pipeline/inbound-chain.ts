// The inbound chain, built once per snapshot with only the filters its configuration needs:
// mTLS mode, path normalisation, identity-header stripping, JWT, external authorization
// (CUSTOM), authorization (DENY, ALLOW), rate limit, client-certificate header. Reading this list answers "where is X" for the inbound side.
import type { KeyLookup } from '../../core/policy/jwt.js';
import { PEER_HEADER } from '../../core/workload-meta.js';
import type { CompiledJwtRule } from '../../core/snapshot/types.js';
import type { RuntimeConfig } from '../runtime-config.js';
import type { RequestFilter } from './filter.js';
import { authorization, type DryRunRecorder } from './inbound/authorization.js';
import { extAuthz, type ExtAuthzCall } from './inbound/ext-authz.js';
import { clientCertHeader } from './inbound/client-cert-header.js';
import { stripIdentityHeaders } from './inbound/identity-headers.js';
import { jwtAuthentication } from './inbound/jwt.js';
import { pathNormalisation } from './inbound/path-normalisation.js';
import { localRateLimit } from './inbound/rate-limit.js';
import { strictMtls } from './inbound/strict-mtls.js';

export interface InboundChainDeps {
  keys: KeyLookup;
  /** The fetch of a rule's JWKS URL under way, which a token waits for (JwksCache.keysFetched). */
  keysFetched?: (rule: CompiledJwtRule) => Promise<void> | undefined;
  appPort: number;
  /** Sends AuthorizationPolicy CUSTOM checks to their provider. */
  extAuthz?: ExtAuthzCall;
  log?(line: Record<string, unknown>): void;
  /** Dry-run AuthorizationPolicy decisions: counted and logged, never enforced. */
  dryRun?: DryRunRecorder;
}

/**
 * Every header the sidecar sets for the application (XFCC, each JWT rule's payload and claim
 * headers) or reads from its peer (the caller's workload metadata): a caller's own copy is removed,
 * so that the application can trust them (a request without a token gets none of them).
 */
export function identityHeaders(rules: CompiledJwtRule[]): string[] {
  const fromTokens = rules.flatMap((r) => [...(r.outputPayloadToHeader ? [r.outputPayloadToHeader.toLowerCase()] : []), ...(r.outputClaimToHeaders ?? []).map((o) => o.header)]);
  return [...new Set(['x-forwarded-client-cert', PEER_HEADER, ...fromTokens])];
}

export function buildInboundChain(cfg: RuntimeConfig, deps: InboundChainDeps): RequestFilter[] {
  const inbound = cfg.snapshot.inbound;
  const chain: RequestFilter[] = [];
  if (inbound.ports[0]?.mtlsMode === 'STRICT') chain.push(strictMtls(deps.log));
  chain.push(pathNormalisation, stripIdentityHeaders(identityHeaders(inbound.jwtRules)));
  if (inbound.jwtRules.length > 0) chain.push(jwtAuthentication(inbound.jwtRules, deps.keys, deps.keysFetched));
  const a = inbound.authorization;
  if (a.custom && a.custom.length > 0) chain.push(extAuthz(a.custom, deps.extAuthz, deps.appPort));
  if (a.deny.length + a.allow.length + a.audit.length > 0 || a.dryRun) chain.push(authorization(a, deps.appPort, deps.dryRun));
  if (inbound.rateLimit) chain.push(localRateLimit(cfg, deps.appPort));
  chain.push(clientCertHeader(cfg.snapshot.proxy.identity));
  return chain;
}
