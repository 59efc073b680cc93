// What a sidecar runs, as istioctl proxy-config shows Envoy's: listeners, routes, clusters,
// endpoints (with outlier detection's verdict) and secrets. The sidecar builds it from its live
// state (proxy/config-dump.ts) and reports it to the controller, where meshctl reads it. The
// types, and the cluster names in Envoy's form, live here because both sides need them. Pure.
import type { CompiledMatch, StringMatcher } from './snapshot/types.js';

export const CONFIG_DUMP_KINDS = ['listener', 'route', 'cluster', 'endpoint', 'secret'] as const;
export type ConfigDumpKind = (typeof CONFIG_DUMP_KINDS)[number];

export interface ListenerView {
  address: string;
  port: number;
  /** inbound, outbound (capture), upstream (one service), gateway, admin, status, dns. */
  type: string;
  /** What it takes: protocol or the service it is for. */
  match: string;
  destination: string;
}

export interface RouteView {
  /** The route's name: `namespace/virtualservice/index`, or `default`. */
  name: string;
  service: string;
  domains: string[];
  match: string;
  destination: string;
}

export interface ClusterView {
  /** Envoy's form: `outbound|port|subset|fqdn`, `inbound|port||`. */
  name: string;
  fqdn: string;
  port: string;
  subset: string;
  direction: 'outbound' | 'inbound';
  tls: string;
  lb: string;
  endpoints: number;
}

export interface EndpointView {
  endpoint: string;
  /** HEALTHY, or UNHEALTHY while outlier detection has ejected it. */
  status: 'HEALTHY' | 'UNHEALTHY';
  outlierCheck: 'OK' | 'FAILED';
  cluster: string;
  /** Connected over mTLS to its sidecar, or directly. */
  via: string;
}

export interface SecretView {
  /** `default` (the workload certificate) or `ROOTCA` (the trust bundle), as Istio's SDS names them. */
  name: string;
  type: 'Cert Chain' | 'CA';
  status: 'ACTIVE' | 'EXPIRED';
  serial: string;
  notBefore: string;
  notAfter: string;
  identity: string;
}

export interface ConfigDump {
  proxy: string;
  /** The snapshot version the sidecar runs. */
  version: string;
  collectedAt: string;
  listeners: ListenerView[];
  routes: RouteView[];
  clusters: ClusterView[];
  endpoints: EndpointView[];
  secrets: SecretView[];
}

function matcher(m: StringMatcher): string {
  if ('exact' in m) return m.exact;
  if ('prefix' in m) return `${m.prefix}*`;
  return `~${m.regex}`;
}

/** A route's matches in one line (any-of, ` || `), as istioctl prints them. */
export function matchText(match: readonly CompiledMatch[]): string {
  if (match.length === 0) return '/*';
  return match
    .map((m) => {
      const parts = [m.uri ? matcher(m.uri) : '/*'];
      if (m.method) parts.push(`method ${matcher(m.method)}`);
      for (const [k, v] of Object.entries(m.headers ?? {})) parts.push(`header ${k}=${matcher(v)}`);
      for (const [k, v] of Object.entries(m.queryParams ?? {})) parts.push(`query ${k}=${matcher(v)}`);
      if (m.port !== undefined) parts.push(`port ${m.port}`);
      return parts.join(' ');
    })
    .join(' || ');
}

const FIELDS: Record<ConfigDumpKind, Record<string, 'string' | 'number' | 'strings'>> = {
  listener: { address: 'string', port: 'number', type: 'string', match: 'string', destination: 'string' },
  route: { name: 'string', service: 'string', domains: 'strings', match: 'string', destination: 'string' },
  cluster: { name: 'string', fqdn: 'string', port: 'string', subset: 'string', direction: 'string', tls: 'string', lb: 'string', endpoints: 'number' },
  endpoint: { endpoint: 'string', status: 'string', outlierCheck: 'string', cluster: 'string', via: 'string' },
  secret: { name: 'string', type: 'string', status: 'string', serial: 'string', notBefore: 'string', notAfter: 'string', identity: 'string' },
};
const LIST: Record<ConfigDumpKind, keyof ConfigDump> = { listener: 'listeners', route: 'routes', cluster: 'clusters', endpoint: 'endpoints', secret: 'secrets' };
// Printed in an operator's terminal: no control characters (escape sequences), nothing huge.
const PRINTABLE = /^[^\p{Cc}]{0,2048}$/u;

const isObject = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);

/** A dump as a sidecar sent it: every field of the expected type and printable, else the list of what is wrong. */
export function configDumpViolations(input: unknown, proxy: string): { path: string; message: string }[] {
  const out: { path: string; message: string }[] = [];
  if (!isObject(input)) return [{ path: '', message: 'must be a JSON object' }];
  if (input.proxy !== proxy) out.push({ path: 'proxy', message: `must be "${proxy}", the proxy of the URL` });
  for (const f of ['version', 'collectedAt']) if (typeof input[f] !== 'string' || !PRINTABLE.test(input[f] as string)) out.push({ path: f, message: 'must be printable text' });
  for (const kind of CONFIG_DUMP_KINDS) {
    const list = input[LIST[kind]];
    if (!Array.isArray(list)) {
      out.push({ path: LIST[kind], message: 'must be a list' });
      continue;
    }
    list.forEach((item, i) => {
      const at = `${LIST[kind]}[${i}]`;
      if (!isObject(item)) return void out.push({ path: at, message: 'must be an object' });
      for (const [field, type] of Object.entries(FIELDS[kind])) {
        const v = item[field];
        const ok =
          type === 'number'
            ? typeof v === 'number' && Number.isFinite(v)
            : type === 'string'
              ? typeof v === 'string' && PRINTABLE.test(v)
              : Array.isArray(v) && v.every((x) => typeof x === 'string' && PRINTABLE.test(x));
        if (!ok) out.push({ path: `${at}.${field}`, message: type === 'number' ? 'must be a number' : type === 'string' ? 'must be printable text' : 'must be a list of printable text' });
      }
    });
  }
  return out.slice(0, 20);
}
