// AuthorizationPolicy decisions, with Istio's semantics: any matching DENY denies; no ALLOW
// policy means allow; otherwise some ALLOW rule must match. AUDIT only marks. For a TCP
// connection, as Istio does, fields only HTTP has (methods, paths, hosts, request principals,
// request.* conditions) make an ALLOW rule never match, and are dropped from a DENY rule, which
// then matches more: a connection carried as bytes can never slip past a path-based DENY.
import type { AuthzOperationMatch, AuthzSourceMatch, CompiledAuthzPolicy, CompiledAuthzRule, InboundConfig } from '../snapshot/types.js';

export interface AuthzRequest {
  /** Peer SPIFFE ID from the verified client certificate, e.g. spiffe://cluster.local/ns/default/sa/productpage. */
  peerIdentity?: string;
  /** `iss/sub` of a verified JWT. */
  requestPrincipal?: string;
  sourceIp: string;
  host: string;
  port: number;
  method: string;
  /** Normalised path without query. */
  path: string;
  headers: Record<string, string | string[] | undefined>;
  claims?: Record<string, unknown>;
  /** A TCP connection (no HTTP request to look at): Istio's TCP semantics apply. */
  tcp?: boolean;
}

export interface AuthzDecision {
  allowed: boolean;
  /** The policy that decided, for logs and the response flag. */
  policy?: string;
  audited: boolean;
}

/** Istio values: exact, `prefix*`, `*suffix`, or `*`. */
export function valueMatches(pattern: string, value: string | undefined): boolean {
  if (value === undefined) return false;
  if (pattern === '*') return value !== '';
  if (pattern.endsWith('*')) return value.startsWith(pattern.slice(0, -1));
  if (pattern.startsWith('*')) return value.endsWith(pattern.slice(1));
  return value === pattern;
}

const anyOf = (patterns: string[] | undefined, value: string | undefined) => patterns === undefined || patterns.some((p) => valueMatches(p, value));
const noneOf = (patterns: string[] | undefined, value: string | undefined) => patterns === undefined || !patterns.some((p) => valueMatches(p, value));

function principalOf(peer: string | undefined): string | undefined {
  return peer?.startsWith('spiffe://') ? peer.slice('spiffe://'.length) : peer;
}

function namespaceOf(peer: string | undefined): string | undefined {
  return /\/ns\/([^/]+)\//.exec(peer ?? '')?.[1];
}

function ipInBlock(ip: string, block: string): boolean {
  const [net, bitsText] = block.split('/');
  const toInt = (a: string) => a.split('.').reduce((n, o) => n * 256 + Number(o), 0);
  if (!/^\d+\.\d+\.\d+\.\d+$/.test(ip.replace(/^::ffff:/, '')) || !/^\d+\.\d+\.\d+\.\d+$/.test(net)) return ip === net;
  const bits = bitsText === undefined ? 32 : Number(bitsText);
  const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
  return (toInt(ip.replace(/^::ffff:/, '')) & mask) >>> 0 === (toInt(net) & mask) >>> 0;
}

function sourceMatches(s: AuthzSourceMatch, r: AuthzRequest): boolean {
  const principal = principalOf(r.peerIdentity);
  const ns = namespaceOf(r.peerIdentity);
  return (
    anyOf(s.principals, principal) &&
    noneOf(s.notPrincipals, principal) &&
    anyOf(s.requestPrincipals, r.requestPrincipal) &&
    noneOf(s.notRequestPrincipals, r.requestPrincipal) &&
    anyOf(s.namespaces, ns) &&
    noneOf(s.notNamespaces, ns) &&
    (s.ipBlocks === undefined || s.ipBlocks.some((b) => ipInBlock(r.sourceIp, b))) &&
    (s.notIpBlocks === undefined || !s.notIpBlocks.some((b) => ipInBlock(r.sourceIp, b)))
  );
}

function operationMatches(o: AuthzOperationMatch, r: AuthzRequest): boolean {
  const host = r.host.toLowerCase().replace(/:\d+$/, '');
  return (
    anyOf(
      o.hosts?.map((h) => h.toLowerCase()),
      host,
    ) &&
    noneOf(
      o.notHosts?.map((h) => h.toLowerCase()),
      host,
    ) &&
    (o.ports === undefined || o.ports.includes(r.port)) &&
    (o.notPorts === undefined || !o.notPorts.includes(r.port)) &&
    anyOf(o.methods, r.method.toUpperCase()) &&
    noneOf(o.notMethods, r.method.toUpperCase()) &&
    anyOf(o.paths, r.path) &&
    noneOf(o.notPaths, r.path)
  );
}

function conditionValue(key: string, r: AuthzRequest): string[] {
  const header = /^request\.headers\[(.+)\]$/.exec(key);
  if (header) {
    const v = r.headers[header[1].toLowerCase()];
    return v === undefined ? [] : Array.isArray(v) ? v : [v];
  }
  const claim = /^request\.auth\.claims\[(.+?)\]((?:\[.+?\])*)$/.exec(key);
  if (claim) {
    let v: unknown = r.claims?.[claim[1]];
    for (const part of claim[2].match(/\[(.+?)\]/g) ?? []) v = (v as Record<string, unknown> | undefined)?.[part.slice(1, -1)];
    return v === undefined ? [] : Array.isArray(v) ? v.map(String) : [String(v)];
  }
  switch (key) {
    case 'source.ip':
    case 'remote.ip':
      return [r.sourceIp];
    case 'source.namespace':
      return [namespaceOf(r.peerIdentity) ?? ''];
    case 'source.principal':
      return [principalOf(r.peerIdentity) ?? ''];
    case 'request.auth.principal':
      return r.requestPrincipal ? [r.requestPrincipal] : [];
    case 'destination.port':
      return [String(r.port)];
    default:
      return [];
  }
}

function ruleMatches(rule: CompiledAuthzRule, r: AuthzRequest): boolean {
  if (rule.from.length > 0 && !rule.from.some((s) => sourceMatches(s, r))) return false;
  if (rule.to.length > 0 && !rule.to.some((o) => operationMatches(o, r))) return false;
  return rule.when.every((c) => {
    const values = conditionValue(c.key, r);
    const ipKey = c.key === 'source.ip' || c.key === 'remote.ip';
    const hit = (p: string) => values.some((v) => (ipKey ? ipInBlock(v, p) : valueMatches(p, v)));
    return (c.values === undefined || c.values.some(hit)) && (c.notValues === undefined || !c.notValues.some(hit));
  });
}

const HTTP_SOURCE_FIELDS = ['requestPrincipals', 'notRequestPrincipals'] as const;
const HTTP_OPERATION_FIELDS = ['hosts', 'notHosts', 'methods', 'notMethods', 'paths', 'notPaths'] as const;
const isHttpCondition = (key: string) => key.startsWith('request.');

function usesHttpFields(rule: CompiledAuthzRule): boolean {
  return (
    rule.from.some((s) => HTTP_SOURCE_FIELDS.some((f) => s[f] !== undefined)) ||
    rule.to.some((o) => HTTP_OPERATION_FIELDS.some((f) => o[f] !== undefined)) ||
    rule.when.some((c) => isHttpCondition(c.key))
  );
}

/** A DENY rule as it applies to TCP: its HTTP-only fields dropped. */
function withoutHttpFields(rule: CompiledAuthzRule): CompiledAuthzRule {
  const drop = <T extends object>(o: T, fields: readonly string[]) => Object.fromEntries(Object.entries(o).filter(([k]) => !fields.includes(k))) as T;
  return { from: rule.from.map((s) => drop(s, HTTP_SOURCE_FIELDS)), to: rule.to.map((o) => drop(o, HTTP_OPERATION_FIELDS)), when: rule.when.filter((c) => !isHttpCondition(c.key)) };
}

function policyMatches(p: CompiledAuthzPolicy, r: AuthzRequest, action: 'deny' | 'allow'): boolean {
  if (!r.tcp) return p.rules.some((rule) => ruleMatches(rule, r));
  if (action === 'deny') return p.rules.some((rule) => ruleMatches(withoutHttpFields(rule), r));
  return p.rules.some((rule) => !usesHttpFields(rule) && ruleMatches(rule, r));
}

/** What the dry-run policies would have decided, each action on its own (Envoy's shadow rules, as Istio compiles dry-run). */
export interface ShadowDecision {
  action: 'DENY' | 'ALLOW';
  result: 'allowed' | 'denied';
  /** The policy that decided; for ALLOW denials, none matched. */
  policy?: string;
}

export function dryRunDecisions(dryRun: NonNullable<InboundConfig['authorization']['dryRun']>, r: AuthzRequest): ShadowDecision[] {
  const out: ShadowDecision[] = [];
  if (dryRun.deny.length > 0) {
    const deny = dryRun.deny.find((p) => policyMatches(p, r, 'deny'));
    out.push(deny ? { action: 'DENY', result: 'denied', policy: deny.name } : { action: 'DENY', result: 'allowed' });
  }
  if (dryRun.allow.length > 0) {
    const allow = dryRun.allow.find((p) => policyMatches(p, r, 'allow'));
    out.push(allow ? { action: 'ALLOW', result: 'allowed', policy: allow.name } : { action: 'ALLOW', result: 'denied' });
  }
  return out;
}

export function authorize(authz: InboundConfig['authorization'], r: AuthzRequest): AuthzDecision {
  const audited = authz.audit.some((p) => policyMatches(p, r, 'allow'));
  const deny = authz.deny.find((p) => policyMatches(p, r, 'deny'));
  if (deny) return { allowed: false, policy: deny.name, audited };
  if (authz.allow.length === 0) return { allowed: true, audited };
  const allow = authz.allow.find((p) => policyMatches(p, r, 'allow'));
  return allow ? { allowed: true, policy: allow.name, audited } : { allowed: false, policy: 'no ALLOW policy matched', audited };
}
