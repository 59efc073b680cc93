// Inbound side of a proxy snapshot: the app's ports with their mTLS mode, and the
// authorization and JWT rules that apply to this workload.
import type { ServiceInstance } from '../catalog-model.js';
import { parseDurationMs } from '../duration.js';
import type { AuthorizationPolicySpec, LocalRateLimitSpec, MtlsMode as IstioMtlsMode, PeerAuthenticationSpec, RequestAuthenticationSpec, Resource, TokenBucketSpec } from '../resources/types.js';
import { compileMatch } from './compile-outbound.js';
import { applicablePolicies, selectorMatches } from './selectors.js';
import type { ExtAuthzHttpProvider } from '../mesh-config.js';
import type { CompiledAuthzPolicy, CompiledJwtRule, InboundConfig, InboundPort, MtlsMode } from './types.js';

export interface Workload {
  namespace: string;
  labels: Record<string, string>;
  instances: ServiceInstance[];
}

const KINDS = ['PeerAuthentication', 'AuthorizationPolicy', 'RequestAuthentication', 'LocalRateLimit'] as const;
type InboundKind = (typeof KINDS)[number];
/** The kinds compileInbound reads: a caller may hand it only these (SnapshotCompiler does, once per round). */
export const INBOUND_KINDS: ReadonlySet<string> = new Set(KINDS);

export function compileInbound(resources: Resource[], workload: Workload, rootNamespace: string, providers: readonly ExtAuthzHttpProvider[] = []): InboundConfig {
  // Only the kinds INBOUND_KINDS names, so that the callers that pre-filter by it see them all.
  const of = <S>(kind: InboundKind) => resources.filter((r) => r.kind === kind) as Resource<S>[];
  const ports = inboundPorts(workload, of<PeerAuthenticationSpec>('PeerAuthentication'), rootNamespace);
  const authz = applicablePolicies(of<AuthorizationPolicySpec>('AuthorizationPolicy'), workload, rootNamespace);
  const authorization: InboundConfig['authorization'] = { deny: [] as CompiledAuthzPolicy[], allow: [] as CompiledAuthzPolicy[], audit: [] as CompiledAuthzPolicy[] };
  for (const p of authz) {
    const compiled = compileAuthz(p);
    const action = p.spec.action ?? 'ALLOW';
    if (p.metadata.annotations?.['istio.io/dry-run'] === 'true') {
      const shadow = (authorization.dryRun ??= { deny: [], allow: [] });
      (action === 'DENY' ? shadow.deny : shadow.allow).push(compiled);
    } else if (action === 'CUSTOM') {
      const providerName = p.spec.provider?.name ?? '';
      const provider = providers.find((x) => x.name === providerName);
      (authorization.custom ??= []).push({ ...compiled, providerName, ...(provider ? { provider } : {}) });
    } else if (action === 'DENY') authorization.deny.push(compiled);
    else if (action === 'AUDIT') authorization.audit.push(compiled);
    else authorization.allow.push(compiled);
  }
  const jwtRules = applicablePolicies(of<RequestAuthenticationSpec>('RequestAuthentication'), workload, rootNamespace).flatMap((r) => (r.spec.jwtRules ?? []).map(compileJwtRule));
  const rateLimit = rateLimitFor(workload, of<LocalRateLimitSpec>('LocalRateLimit'), rootNamespace);
  return { ports, authorization, jwtRules, ...(rateLimit ? { rateLimit } : {}) };
}

/** One bucket per workload, chosen as PeerAuthentication is: selected, then namespace-wide, then mesh-wide. */
function rateLimitFor(workload: Workload, limits: Resource<LocalRateLimitSpec>[], rootNamespace: string): InboundConfig['rateLimit'] {
  const inNs = limits.filter((p) => p.metadata.namespace === workload.namespace);
  const chosen =
    inNs.find((p) => p.spec.selector?.matchLabels && selectorMatches(p.spec.selector, workload.labels)) ??
    inNs.find((p) => !p.spec.selector?.matchLabels) ??
    limits.find((p) => p.metadata.namespace === rootNamespace && !p.spec.selector?.matchLabels);
  if (!chosen) return undefined;
  const bucket = (b: TokenBucketSpec) => ({ maxTokens: b.maxTokens, tokensPerFill: b.tokensPerFill, fillIntervalMs: parseDurationMs(b.fillInterval) as number });
  const routes = (chosen.spec.routes ?? []).map((r, i) => ({ name: r.name ?? `routes[${i}]`, match: r.match.map(compileMatch), ...bucket(r.tokenBucket) }));
  return { policy: `${chosen.metadata.namespace}/${chosen.metadata.name}`, ...bucket(chosen.spec.tokenBucket), ...(routes.length > 0 ? { routes } : {}) };
}

/**
 * Istio's precedence: workload-selector policy in the workload's namespace, then the namespace-wide
 * policy, then the mesh-wide policy in the root namespace, then PERMISSIVE. UNSET inherits.
 */
function inboundPorts(workload: Workload, pas: Resource<PeerAuthenticationSpec>[], rootNamespace: string): InboundPort[] {
  const inNs = pas.filter((p) => p.metadata.namespace === workload.namespace);
  const selected = inNs.filter((p) => p.spec.selector?.matchLabels && selectorMatches(p.spec.selector, workload.labels));
  const nsWide = inNs.filter((p) => !p.spec.selector?.matchLabels);
  const meshWide = pas.filter((p) => p.metadata.namespace === rootNamespace && !p.spec.selector?.matchLabels);
  const chain = [selected[0], nsWide[0], meshWide[0]].filter(Boolean) as Resource<PeerAuthenticationSpec>[];
  const resolve = (port: number): MtlsMode => {
    for (const pa of chain) {
      const portMode = pa === selected[0] ? pa.spec.portLevelMtls?.[String(port)]?.mode : undefined;
      const mode = pick(portMode) ?? pick(pa.spec.mtls?.mode);
      if (mode) return mode;
    }
    return 'PERMISSIVE';
  };
  const seen = new Map<number, InboundPort>();
  for (const inst of workload.instances) {
    if (!seen.has(inst.port)) seen.set(inst.port, { port: inst.port, protocol: inst.protocol ?? 'auto', mtlsMode: resolve(inst.port) });
  }
  return [...seen.values()].sort((a, b) => a.port - b.port);
}

function pick(mode: IstioMtlsMode | undefined): MtlsMode | undefined {
  return mode === undefined || mode === 'UNSET' ? undefined : mode;
}

function compileAuthz(p: Resource<AuthorizationPolicySpec>): CompiledAuthzPolicy {
  return {
    name: `${p.metadata.namespace}/${p.metadata.name}`,
    rules: (p.spec.rules ?? []).map((rule) => ({
      from: (rule.from ?? []).map((f) => ({ ...f.source })),
      to: (rule.to ?? []).map((t) => {
        const { ports, notPorts, methods, notMethods, ...rest } = t.operation;
        return {
          ...rest,
          ...(ports ? { ports: ports.map(Number) } : {}),
          ...(notPorts ? { notPorts: notPorts.map(Number) } : {}),
          ...(methods ? { methods: methods.map((m) => m.toUpperCase()) } : {}),
          ...(notMethods ? { notMethods: notMethods.map((m) => m.toUpperCase()) } : {}),
        };
      }),
      when: (rule.when ?? []).map((w) => ({ ...w })),
    })),
  };
}

export function compileJwtRule(r: NonNullable<RequestAuthenticationSpec['jwtRules']>[number]): CompiledJwtRule {
  // Envoy's default token locations (an Authorization bearer header, then the access_token
  // parameter) hold only when the rule names no location of its own.
  const located = Boolean(r.fromHeaders?.length || r.fromParams?.length || r.fromCookies?.length);
  const rule: CompiledJwtRule = {
    issuer: r.issuer,
    audiences: r.audiences ?? [],
    fromHeaders: located ? (r.fromHeaders ?? []).map((h) => ({ name: h.name.toLowerCase(), prefix: h.prefix ?? '' })) : [{ name: 'authorization', prefix: 'Bearer ' }],
    fromParams: located ? (r.fromParams ?? []) : ['access_token'],
    forwardOriginalToken: r.forwardOriginalToken ?? false,
  };
  if (r.fromCookies?.length) rule.fromCookies = r.fromCookies;
  if (r.jwks) rule.jwks = r.jwks;
  if (r.jwksUri) rule.jwksUri = r.jwksUri;
  if (r.timeout !== undefined) rule.jwksTimeoutMs = parseDurationMs(r.timeout) as number; // validated
  if (r.outputPayloadToHeader) rule.outputPayloadToHeader = r.outputPayloadToHeader;
  if (r.outputClaimToHeaders?.length) rule.outputClaimToHeaders = r.outputClaimToHeaders.map((o) => ({ header: o.header.toLowerCase(), claim: o.claim }));
  return rule;
}
