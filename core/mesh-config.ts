// The part of Istio's MeshConfig this mesh reads (`mesh-controller --mesh-config FILE`):
// extensionProviders of type envoyExtAuthzHttp, the external authorizers that
// AuthorizationPolicy `action: CUSTOM` names. Pure: validated with every violation collected.
import { parseDurationMs } from './duration.js';
import { validationFailed, type Violation } from './errors.js';
import { arr, bool, isPlainObject, map, obj, port, str } from './resources/schema.js';

/** An HTTP external authorizer, as Istio's MeshConfig.ExtensionProvider.EnvoyExternalAuthorizationHttpProvider. */
export interface ExtAuthzHttpProvider {
  name: string;
  /** A mesh service's host (`ext-authz`, `ext-authz.foo.svc.cluster.local`) or another host name or address. */
  service: string;
  port: number;
  pathPrefix: string;
  timeoutMs: number;
  failOpen: boolean;
  /** Status when the authorizer cannot be reached (Istio's default 403). */
  statusOnError: number;
  /** Request headers sent to the authorizer besides Host, Method, Path and Authorization-like ones Envoy sends. */
  includeRequestHeadersInCheck: string[];
  includeAdditionalHeadersInCheck: Record<string, string>;
  headersToUpstreamOnAllow: string[];
  headersToDownstreamOnDeny: string[];
}

export interface MeshConfig {
  extensionProviders: ExtAuthzHttpProvider[];
}

const DEFAULT_TIMEOUT_MS = 600_000;

const extAuthzHttp = obj(
  {
    service: str({ nonEmpty: true }),
    port,
    pathPrefix: str({ pattern: /^\//, patternHint: 'must start with "/"' }),
    timeout: str({
      check: (s) => {
        const r = parseDurationMs(s);
        return typeof r === 'string' ? r : undefined;
      },
    }),
    failOpen: bool,
    statusOnError: str({ pattern: /^[1-5]\d\d$/, patternHint: 'must be an HTTP status code, as a string' }),
    includeRequestHeadersInCheck: arr(str({ nonEmpty: true })),
    includeAdditionalHeadersInCheck: map(str()),
    headersToUpstreamOnAllow: arr(str({ nonEmpty: true })),
    headersToDownstreamOnDeny: arr(str({ nonEmpty: true })),
  },
  {
    required: ['service', 'port'],
    unsupported: { includeHeadersInCheck: 'deprecated in Istio; use includeRequestHeadersInCheck', headersToDownstreamOnAllow: 'not implemented', includeRequestBodyInCheck: 'not implemented' },
  },
);

const provider = obj(
  { name: str({ nonEmpty: true }), envoyExtAuthzHttp: extAuthzHttp },
  {
    required: ['name', 'envoyExtAuthzHttp'],
    unsupported: {
      envoyExtAuthzGrpc: 'gRPC external authorizers are not implemented; use envoyExtAuthzHttp',
      zipkin: 'not read here: tracing is set per sidecar (--otlp-endpoint)',
      opentelemetry: 'not read here: tracing is set per sidecar (--otlp-endpoint)',
      prometheus: 'metrics are always on',
      envoyFileAccessLog: 'not implemented',
      envoyOtelAls: 'not implemented',
    },
  },
);

const meshConfigSchema = obj({ extensionProviders: arr(provider) }, { unsupported: {} });

/** Reads a parsed MeshConfig document; throws VALIDATION_FAILED with every violation. Fields other than extensionProviders are refused. */
export function readMeshConfig(doc: unknown, where = 'mesh config'): MeshConfig {
  const out: Violation[] = [];
  if (doc === null || doc === undefined) return { extensionProviders: [] };
  meshConfigSchema(doc, '', out);
  const providers = isPlainObject(doc) && Array.isArray(doc.extensionProviders) ? (doc.extensionProviders as Record<string, unknown>[]) : [];
  const names = new Set<string>();
  providers.forEach((p, i) => {
    if (typeof p?.name === 'string' && names.has(p.name)) out.push({ path: `extensionProviders[${i}].name`, message: `"${p.name}" is named twice` });
    if (typeof p?.name === 'string') names.add(p.name);
  });
  if (out.length > 0) throw validationFailed(where, out);
  return {
    extensionProviders: providers.map((p) => {
      const h = p.envoyExtAuthzHttp as Record<string, unknown>;
      return {
        name: p.name as string,
        service: h.service as string,
        port: h.port as number,
        pathPrefix: (h.pathPrefix as string | undefined) ?? '',
        timeoutMs: typeof h.timeout === 'string' ? (parseDurationMs(h.timeout) as number) : DEFAULT_TIMEOUT_MS,
        failOpen: h.failOpen === true,
        statusOnError: typeof h.statusOnError === 'string' ? Number(h.statusOnError) : 403,
        includeRequestHeadersInCheck: ((h.includeRequestHeadersInCheck as string[] | undefined) ?? []).map((n) => n.toLowerCase()),
        includeAdditionalHeadersInCheck: (h.includeAdditionalHeadersInCheck as Record<string, string> | undefined) ?? {},
        headersToUpstreamOnAllow: ((h.headersToUpstreamOnAllow as string[] | undefined) ?? []).map((n) => n.toLowerCase()),
        headersToDownstreamOnDeny: ((h.headersToDownstreamOnDeny as string[] | undefined) ?? []).map((n) => n.toLowerCase()),
      };
    }),
  };
}
