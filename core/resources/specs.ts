// Schemas of the Istio specs this mesh implements. Fields Istio has but this mesh does not
// implement are listed as `unsupported` so that the error says so instead of "unknown field".
import type { Violation } from '../errors.js';
import { parseDurationMs } from '../duration.js';
import { FilterSyntaxError, parseFilter } from '../access-log/filter.js';
import { arr, bool, duration, int, map, num, obj, port, regex, str, type Schema, isPlainObject } from './schema.js';
import type { Kind } from './types.js';
import { rewriteProblem } from '../routing/regex-rewrite.js';
import { GRPC_CODE_NAMES } from '../routing/grpc-status.js';

const HOST_RE = /^(\*|(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*)$/;
const host = str({ nonEmpty: true, pattern: HOST_RE, patternHint: 'is not a valid host: use a service name such as "reviews", "reviews.service.consul" or a DNS name' });
const NAME_RE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const GATEWAY_REF_RE = /^(mesh|([a-z0-9]([-a-z0-9]*[a-z0-9])?\/)?[a-z0-9]([-a-z0-9.]*[a-z0-9])?)$/;
/** A Gateway server's host: `[namespace/]host`, the namespace `*`, `.` (the gateway's) or a name; the host `*`, `*.domain` or a name. */
const GATEWAY_HOST_RE = /^((\*|\.|[a-z0-9]([-a-z0-9]*[a-z0-9])?)\/)?(\*|(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*)$/;
const subsetName = str({ nonEmpty: true, pattern: NAME_RE, patternHint: 'is not a valid subset name (lowercase letters, digits and "-")' });
const labels = map(str());
const stringList = arr(str());
const percent = obj({ value: num({ min: 0, max: 100 }) }, { required: ['value'] });

const gatewayRef = str({ pattern: GATEWAY_REF_RE, patternHint: 'is not a gateway reference: use "mesh", a Gateway\'s name, or "namespace/name"' });

const stringMatch = obj({ exact: str(), prefix: str(), regex }, { oneOf: [{ fields: ['exact', 'prefix', 'regex'], exactlyOne: true }] });

const destination = obj({ host, subset: subsetName, port: obj({ number: port }, { required: ['number'] }) }, { required: ['host'] });

/**
 * Istio's exportTo: the namespaces a resource is visible to: "." (its own), "*" (all, the
 * default), a namespace name, or "~" (none; for DestinationRules and ServiceEntries only, as
 * Istio allows it). "*" and "~" stand alone; no entry twice.
 */
function exportTo(allowNone: boolean): Schema {
  const entry = str({
    check: (v) =>
      v === '.' || v === '*' || NAME_RE.test(v) || (allowNone && v === '~')
        ? undefined
        : v === '~'
          ? 'exportTo "~" (visible to no namespace) is allowed only for DestinationRules and ServiceEntries, as in Istio'
          : `"${v}" is not ".", "*"${allowNone ? ', "~"' : ''} or a namespace name`,
  });
  return (v, path, out) => {
    arr(entry)(v, path, out);
    if (!Array.isArray(v)) return;
    v.forEach((e, i) => {
      if (v.indexOf(e) !== i) out.push({ path: `${path}[${i}]`, message: `"${String(e)}" is listed twice` });
    });
    for (const alone of ['*', '~']) if (v.includes(alone) && v.length > 1) out.push({ path, message: `"${alone}" cannot be combined with other entries` });
  };
}

const headerOps = obj({ set: map(str()), add: map(str()), remove: stringList });
const headers = obj({ request: headerOps, response: headerOps });

const httpMatch = obj(
  {
    name: str(),
    uri: stringMatch,
    scheme: stringMatch,
    method: stringMatch,
    authority: stringMatch,
    headers: map(stringMatch),
    withoutHeaders: map(stringMatch),
    queryParams: map(stringMatch),
    port,
    ignoreUriCase: bool,
    sourceLabels: labels,
    sourceNamespace: str(),
    gateways: arr(gatewayRef),
  },
  { unsupported: { statPrefix: 'per-route stat prefixes are not implemented' } },
);

const RETRY_ON = new Set([
  '5xx',
  'gateway-error',
  'connect-failure',
  'reset',
  'retriable-4xx',
  'refused-stream',
  'retriable-status-codes',
  'cancelled',
  'deadline-exceeded',
  'internal',
  'resource-exhausted',
  'unavailable',
]);

const retries = obj(
  {
    attempts: int({ min: 0, max: 100 }),
    perTryTimeout: duration,
    retryOn: str({
      check: (s) => {
        const bad = s
          .split(',')
          .map((x) => x.trim())
          .filter((x) => x && !RETRY_ON.has(x) && !/^\d{3}$/.test(x));
        return bad.length ? `unknown retry condition${bad.length > 1 ? 's' : ''} ${bad.join(', ')}; use ${[...RETRY_ON].join(', ')} or HTTP status codes` : undefined;
      },
    }),
  },
  { required: ['attempts'], unsupported: { retryRemoteLocalities: 'localities are not implemented' } },
);

const fault = obj({
  delay: obj({ fixedDelay: duration, percentage: percent }, { required: ['fixedDelay'], unsupported: { exponentialDelay: 'only fixedDelay is implemented' } }),
  abort: obj(
    // Istio names gRPC codes in capitals ("UNAVAILABLE", not 14).
    { httpStatus: int({ min: 200, max: 599 }), grpcStatus: str({ enum: GRPC_CODE_NAMES }), percentage: percent },
    { oneOf: [{ fields: ['httpStatus', 'grpcStatus'], exactlyOne: true }], unsupported: { http2Error: 'abort with httpStatus or grpcStatus instead' } },
  ),
});

/** A keepalive time: whole seconds as the kernel takes them, 1 s to 32,767 s. */
const keepaliveSeconds: Schema = (v, path, out) => {
  duration(v, path, out);
  const ms = parseDurationMs(v);
  if (typeof ms === 'number' && (ms < 1000 || ms > 32_767_000 || ms % 1000 !== 0))
    out.push({ path, message: `must be whole seconds from 1s to 32767s (the kernel's unit and range), got ${String(v)}` });
};

const routeDestination = obj({ destination, weight: int({ min: 0, max: 100 }), headers }, { required: ['destination'] });

function weightsSumTo100(list: unknown, path: string, out: Violation[]): void {
  if (!Array.isArray(list) || list.length === 0) return;
  const weights = list.map((d) => (isPlainObject(d) ? d.weight : undefined));
  if (list.length === 1) {
    if (weights[0] !== undefined && weights[0] !== 100 && weights[0] !== 0)
      out.push({ path: `${path}[0].weight`, message: `a single destination takes all traffic; omit weight or set it to 100, got ${weights[0]}` });
    return;
  }
  const missing = weights.findIndex((w) => w === undefined);
  if (missing >= 0) return void out.push({ path: `${path}[${missing}].weight`, message: 'is required when a route has more than one destination' });
  const sum = (weights as number[]).reduce((a, b) => a + (typeof b === 'number' ? b : 0), 0);
  if (sum !== 100) out.push({ path, message: `weights must sum to 100, they sum to ${sum}` });
}

/** A regex rewrite's pattern compiles and its rewrite names only groups the pattern has. */
function uriRegexRewriteCheck(v: Record<string, unknown>, path: string, out: Violation[]): void {
  if (typeof v.match !== 'string' || typeof v.rewrite !== 'string' || v.match === '') return;
  const problem = rewriteProblem(v.match, v.rewrite);
  if (problem) out.push({ path: `${path}.${problem.startsWith('the pattern') ? 'match' : 'rewrite'}`, message: problem });
}

const httpRoute = obj(
  {
    name: str(),
    match: arr(httpMatch),
    route: arr(routeDestination, { min: 1 }),
    redirect: obj({ uri: str(), authority: str(), port, scheme: str({ enum: ['http', 'https'] }), redirectCode: int({ min: 300, max: 399 }) }),
    directResponse: obj({ status: int({ min: 200, max: 599 }), body: obj({ string: str() }, { unsupported: { bytes: 'use body.string' } }) }, { required: ['status'] }),
    rewrite: obj(
      { uri: str(), authority: str(), uriRegexRewrite: obj({ match: str({ nonEmpty: true }), rewrite: str() }, { required: ['match', 'rewrite'], check: uriRegexRewriteCheck }) },
      { oneOf: [{ fields: ['uri', 'uriRegexRewrite'] }] },
    ),
    timeout: duration,
    retries,
    fault,
    mirror: destination,
    mirrorPercentage: percent,
    mirrors: arr(obj({ destination, percentage: percent }, { required: ['destination'] })),
    headers,
    corsPolicy: obj({
      allowOrigins: arr(stringMatch),
      allowMethods: stringList,
      allowHeaders: stringList,
      exposeHeaders: stringList,
      maxAge: duration,
      allowCredentials: bool,
      unmatchedPreflights: str({ enum: ['UNSPECIFIED', 'FORWARD', 'IGNORE'] }),
    }),
  },
  {
    oneOf: [{ fields: ['route', 'redirect', 'directResponse'], exactlyOne: true }],
    unsupported: { delegate: 'route delegation is not implemented' },
    check: (v, path, out) => {
      weightsSumTo100(v.route, `${path}.route`, out);
      if (v.rewrite && (v.redirect || v.directResponse)) out.push({ path: `${path}.rewrite`, message: 'cannot be combined with redirect or directResponse' });
      if (v.mirrorPercentage && !v.mirror) out.push({ path: `${path}.mirrorPercentage`, message: 'needs mirror to be set' });
      if (v.mirror && v.mirrors) out.push({ path: `${path}.mirrors`, message: 'cannot be combined with mirror: list every mirror here, each with its percentage' });
    },
  },
);

const tcpRoute = obj(
  {
    match: arr(obj({ port, destinationSubnets: stringList, sourceLabels: labels, gateways: arr(gatewayRef) })),
    route: arr(obj({ destination, weight: int({ min: 0, max: 100 }) }, { required: ['destination'] }), { min: 1 }),
  },
  { required: ['route'], check: (v, path, out) => weightsSumTo100(v.route, `${path}.route`, out) },
);

const tlsRoute = obj(
  {
    match: arr(obj({ sniHosts: arr(host, { min: 1 }), port, destinationSubnets: stringList, sourceLabels: labels, gateways: arr(gatewayRef) }, { required: ['sniHosts'] }), { min: 1 }),
    route: arr(obj({ destination, weight: int({ min: 0, max: 100 }) }, { required: ['destination'] }), { min: 1 }),
  },
  { required: ['match', 'route'], check: (v, path, out) => weightsSumTo100(v.route, `${path}.route`, out) },
);

const virtualService = obj(
  {
    hosts: arr(host, { min: 1 }),
    // `mesh` (the sidecars), and Gateways by `name` (in the VirtualService's namespace) or `namespace/name`.
    gateways: arr(gatewayRef),
    http: arr(httpRoute),
    tcp: arr(tcpRoute),
    tls: arr(tlsRoute),
    exportTo: exportTo(false),
  },
  {
    required: ['hosts'],
    check: (v, path, out) => {
      if (!v.http && !v.tcp && !v.tls) out.push({ path: `${path}.http`, message: 'a VirtualService needs http, tcp or tls routes' });
      // As Istio: "*" is a gateway's catch-all; the sidecars need the services named.
      const gateways = Array.isArray(v.gateways) ? (v.gateways as unknown[]) : undefined;
      const forMesh = !gateways || gateways.length === 0 || gateways.includes('mesh');
      if (forMesh && Array.isArray(v.hosts) && v.hosts.includes('*'))
        out.push({ path: `${path}.hosts`, message: 'the wildcard host "*" is allowed only for VirtualServices bound to gateways (spec.gateways without "mesh")' });
      if (forMesh && v.tls) out.push({ path: `${path}.tls`, message: 'tls routes are served by gateways only (passthrough by SNI): bind this VirtualService to gateways, without "mesh"' });
    },
  },
);

/** RFC 9110's token: header field names and cookie names. */
const HTTP_TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** A cookie's name (RFC 6265: a token), in the words validation uses for it. */
const cookieName = str({ pattern: HTTP_TOKEN, patternHint: "is not a cookie name (letters, digits and !#$%&'*+-.^_`|~)" });

const consistentHash = obj(
  {
    httpHeaderName: str({ nonEmpty: true }),
    httpCookie: obj({ name: cookieName, path: str(), ttl: duration }, { required: ['name'] }),
    useSourceIp: bool,
    httpQueryParameterName: str({ nonEmpty: true }),
  },
  {
    oneOf: [{ fields: ['httpHeaderName', 'httpCookie', 'useSourceIp', 'httpQueryParameterName'], exactlyOne: true }],
    unsupported: { ringHash: 'the ring size is fixed', maglev: 'maglev is not implemented', minimumRingSize: 'the ring size is fixed' },
  },
);

const trafficPolicyFields: Record<string, Schema> = {
  loadBalancer: obj(
    { simple: str({ enum: ['UNSPECIFIED', 'ROUND_ROBIN', 'LEAST_REQUEST', 'RANDOM'] }), consistentHash },
    { oneOf: [{ fields: ['simple', 'consistentHash'] }], unsupported: { localityLbSetting: 'locality load balancing is not implemented', warmupDurationSecs: 'slow start is not implemented' } },
  ),
  connectionPool: obj({
    tcp: obj(
      {
        maxConnections: int({ min: 1 }),
        connectTimeout: duration,
        // Linux takes whole seconds, 1 to 32,767, and at most 127 probes.
        tcpKeepalive: obj({ probes: int({ min: 1, max: 127 }), time: keepaliveSeconds, interval: keepaliveSeconds }),
      },
      { unsupported: { maxConnectionDuration: 'not implemented' } },
    ),
    http: obj(
      { http1MaxPendingRequests: int({ min: 1 }), http2MaxRequests: int({ min: 1 }), maxRequestsPerConnection: int({ min: 0 }), maxRetries: int({ min: 0 }), idleTimeout: duration },
      { unsupported: { h2UpgradePolicy: 'protocol upgrade is decided by the client', useClientProtocol: 'not implemented' } },
    ),
  }),
  outlierDetection: obj(
    {
      consecutive5xxErrors: int({ min: 0 }),
      consecutiveGatewayErrors: int({ min: 0 }),
      interval: duration,
      baseEjectionTime: duration,
      maxEjectionPercent: int({ min: 0, max: 100 }),
      minHealthPercent: int({ min: 0, max: 100 }),
    },
    { unsupported: { consecutiveErrors: 'deprecated in Istio; use consecutive5xxErrors', splitExternalLocalOriginErrors: 'not implemented', consecutiveLocalOriginFailures: 'not implemented' } },
  ),
  tls: obj(
    {
      mode: str({ enum: ['DISABLE', 'SIMPLE', 'MUTUAL', 'ISTIO_MUTUAL'] }),
      sni: str(),
      subjectAltNames: stringList,
      caCertificates: str(),
      clientCertificate: str(),
      privateKey: str(),
      insecureSkipVerify: bool,
    },
    {
      required: ['mode'],
      unsupported: { credentialName: 'Kubernetes secrets do not exist here; give file paths in caCertificates/clientCertificate/privateKey' },
      check: (v, path, out) => {
        if (v.mode === 'MUTUAL' && (!v.clientCertificate || !v.privateKey)) out.push({ path: `${path}.mode`, message: 'MUTUAL needs clientCertificate and privateKey' });
        // Files on the sidecar's host: a relative path would depend on where the sidecar was started.
        for (const f of ['caCertificates', 'clientCertificate', 'privateKey'] as const) {
          const file = v[f];
          if (typeof file === 'string' && !file.startsWith('/')) out.push({ path: `${path}.${f}`, message: `must be an absolute path to a PEM file on the sidecar's host, got "${file}"` });
        }
        if ((v.mode === 'DISABLE' || v.mode === 'ISTIO_MUTUAL') && (v.caCertificates || v.clientCertificate || v.privateKey))
          out.push({
            path: `${path}.mode`,
            message: `${String(v.mode)} takes no caCertificates, clientCertificate or privateKey (they configure SIMPLE and MUTUAL origination; the mesh brings its own certificates)`,
          });
      },
    },
  ),
};

const portTrafficPolicy = obj({ ...trafficPolicyFields, port: obj({ number: port }, { required: ['number'] }) }, { required: ['port'] });
const trafficPolicy = obj({ ...trafficPolicyFields, portLevelSettings: arr(portTrafficPolicy) }, { unsupported: { tunnel: 'tunnelling is not implemented', proxyProtocol: 'not implemented' } });

const destinationRule = obj(
  {
    host,
    trafficPolicy,
    subsets: arr(obj({ name: subsetName, labels, trafficPolicy }, { required: ['name'] })),
    exportTo: exportTo(true),
  },
  {
    required: ['host'],
    unsupported: { workloadSelector: 'not implemented' },
    check: (v, path, out) => {
      if (!Array.isArray(v.subsets)) return;
      const seen = new Map<string, number>();
      v.subsets.forEach((s, i) => {
        if (!isPlainObject(s) || typeof s.name !== 'string') return;
        if (seen.has(s.name)) out.push({ path: `${path}.subsets[${i}].name`, message: `subset "${s.name}" is already defined at subsets[${seen.get(s.name)}]` });
        else seen.set(s.name, i);
      });
    },
  },
);

const serviceEntry = obj(
  {
    hosts: arr(host, { min: 1 }),
    addresses: stringList,
    ports: arr(obj({ number: port, protocol: str({ enum: ['HTTP', 'HTTPS', 'HTTP2', 'GRPC', 'TCP', 'TLS'] }), name: str(), targetPort: port }, { required: ['number'] }), { min: 1 }),
    location: str({ enum: ['MESH_EXTERNAL', 'MESH_INTERNAL'] }),
    resolution: str({ enum: ['NONE', 'STATIC', 'DNS', 'DNS_ROUND_ROBIN'] }),
    endpoints: arr(
      obj(
        { address: str({ nonEmpty: true }), ports: map(port), labels, weight: int({ min: 0 }) },
        { required: ['address'], unsupported: { network: 'multi-network is not implemented', locality: 'localities are not implemented', serviceAccount: 'not implemented' } },
      ),
    ),
    subjectAltNames: stringList,
    exportTo: exportTo(true),
  },
  {
    required: ['hosts', 'ports'],
    unsupported: { workloadSelector: 'not implemented' },
    check: (v, path, out) => {
      if (v.resolution === 'STATIC' && (!Array.isArray(v.endpoints) || v.endpoints.length === 0)) out.push({ path: `${path}.endpoints`, message: 'resolution STATIC needs at least one endpoint' });
    },
  },
);

const selector = obj({ matchLabels: labels }, { unsupported: { matchExpressions: 'use matchLabels' } });

/** Server protocols and TLS modes a gateway proxy carries today; the rest are refused by name, never ignored. */
const GATEWAY_TLS_MODES = ['SIMPLE', 'MUTUAL', 'PASSTHROUGH', 'ISTIO_MUTUAL'] as const;
const gatewayTlsSecretFile = 'certificates are not read from files: store them with `meshctl secret create tls NAME --cert FILE --key FILE [--ca FILE]` and name it in credentialName';

const gatewayServer = obj(
  {
    port: obj(
      { number: port, name: str(), protocol: str({ enum: ['HTTP', 'HTTPS', 'HTTP2', 'GRPC', 'TCP', 'TLS'] }) },
      { required: ['number', 'protocol'], unsupported: { targetPort: 'not implemented: a gateway listens on the server port' } },
    ),
    hosts: arr(str({ nonEmpty: true, pattern: GATEWAY_HOST_RE, patternHint: 'is not a gateway host: use "*", "*.example.com", "example.com", optionally after "namespace/" ("*/", "./")' }), {
      min: 1,
    }),
    tls: obj(
      {
        httpsRedirect: bool,
        mode: str({ enum: [...GATEWAY_TLS_MODES] }),
        credentialName: str({ nonEmpty: true, pattern: NAME_RE, patternHint: 'is not a secret name (lowercase letters, digits and "-")' }),
        subjectAltNames: stringList,
        minProtocolVersion: str({ enum: ['TLS_AUTO', 'TLSV1_2', 'TLSV1_3'] }),
        maxProtocolVersion: str({ enum: ['TLS_AUTO', 'TLSV1_2', 'TLSV1_3'] }),
      },
      {
        unsupported: {
          serverCertificate: gatewayTlsSecretFile,
          privateKey: gatewayTlsSecretFile,
          caCertificates: gatewayTlsSecretFile,
          credentialNames: 'use credentialName',
          cipherSuites: 'not implemented: Node.js defaults apply',
          verifyCertificateSpki: 'not implemented',
          verifyCertificateHash: 'not implemented',
          caCrl: 'not implemented',
        },
      },
    ),
    name: str(),
  },
  {
    required: ['port', 'hosts'],
    unsupported: { bind: 'not implemented: a gateway listens on every address', defaultEndpoint: 'not implemented' },
    check: (v, path, out) => {
      const protocol = isPlainObject(v.port) && typeof v.port.protocol === 'string' ? v.port.protocol : undefined;
      const tls = isPlainObject(v.tls) ? (v.tls as { mode?: string; credentialName?: string; httpsRedirect?: boolean }) : undefined;
      if ((protocol === 'HTTPS' || protocol === 'TLS') && !tls?.mode) out.push({ path: `${path}.tls.mode`, message: `is required for a ${protocol} server` });
      if (tls?.mode && protocol !== 'HTTPS' && protocol !== 'TLS') out.push({ path: `${path}.tls.mode`, message: `is for HTTPS and TLS servers, not ${protocol}` });
      if (tls?.mode === 'PASSTHROUGH' && protocol !== 'TLS') out.push({ path: `${path}.tls.mode`, message: 'PASSTHROUGH needs protocol TLS (the gateway routes by SNI and does not end TLS)' });
      if (protocol === 'TLS' && tls?.mode && tls.mode !== 'PASSTHROUGH')
        out.push({ path: `${path}.tls.mode`, message: `not implemented yet for TLS servers: ${tls.mode} (ending TLS and carrying the bytes); use PASSTHROUGH, or protocol HTTPS` });
      if ((tls?.mode === 'SIMPLE' || tls?.mode === 'MUTUAL') && !tls.credentialName)
        out.push({ path: `${path}.tls.credentialName`, message: `is required with mode ${tls.mode}: the secret holding the server certificate (meshctl secret create tls NAME ...)` });
      if (tls?.httpsRedirect && protocol !== 'HTTP') out.push({ path: `${path}.tls.httpsRedirect`, message: 'is for HTTP servers' });
    },
  },
);

const gateway = obj(
  { selector: labels, servers: arr(gatewayServer, { min: 1 }) },
  {
    required: ['servers'],
    check: (v, path, out) => {
      // As Istio: one port carries one protocol; several servers on it split it by host (HTTP) or SNI (TLS).
      const byPort = new Map<number, string>();
      (Array.isArray(v.servers) ? (v.servers as unknown[]) : []).forEach((server, i) => {
        // Shapes are the schema's to report; only well-formed ports are compared here.
        const p = isPlainObject(server) && isPlainObject(server.port) ? server.port : undefined;
        const n = typeof p?.number === 'number' ? p.number : undefined;
        const proto = typeof p?.protocol === 'string' ? p.protocol : undefined;
        if (n === undefined || !proto) return;
        const seen = byPort.get(n);
        if (seen && seen !== proto) out.push({ path: `${path}.servers[${i}].port.protocol`, message: `port ${n} is already ${seen} in another server; a port carries one protocol` });
        else byPort.set(n, proto);
      });
    },
  },
);
const MTLS_MODES = ['UNSET', 'DISABLE', 'PERMISSIVE', 'STRICT'] as const;

const peerAuthentication = obj(
  {
    selector,
    mtls: obj({ mode: str({ enum: MTLS_MODES }) }),
    portLevelMtls: map(obj({ mode: str({ enum: MTLS_MODES }) }), {
      key: (k, p, out) => {
        if (!/^\d+$/.test(k) || Number(k) < 1 || Number(k) > 65535) out.push({ path: p, message: `"${k}" is not a port number` });
      },
    }),
  },
  {
    check: (v, path, out) => {
      if (v.portLevelMtls && !v.selector) out.push({ path: `${path}.portLevelMtls`, message: 'needs a selector (as in Istio, port-level settings apply to selected workloads only)' });
    },
  },
);

const CONDITION_KEY_RE =
  /^(request\.headers\[[^\]]+\]|source\.ip|remote\.ip|source\.namespace|source\.principal|request\.auth\.principal|request\.auth\.audiences|request\.auth\.presenter|request\.auth\.claims\[[^\]]+\](\[[^\]]+\])*|destination\.ip|destination\.port|connection\.sni)$/;

const authorizationPolicy = obj(
  {
    selector,
    action: str({ enum: ['ALLOW', 'DENY', 'AUDIT', 'CUSTOM'] }),
    provider: obj({ name: str({ nonEmpty: true }) }, { required: ['name'] }),
    rules: arr(
      obj({
        from: arr(
          obj(
            {
              source: obj(
                {
                  principals: stringList,
                  notPrincipals: stringList,
                  requestPrincipals: stringList,
                  notRequestPrincipals: stringList,
                  namespaces: stringList,
                  notNamespaces: stringList,
                  ipBlocks: stringList,
                  notIpBlocks: stringList,
                },
                { unsupported: { remoteIpBlocks: 'use ipBlocks', notRemoteIpBlocks: 'use notIpBlocks', serviceAccounts: 'use principals' } },
              ),
            },
            { required: ['source'] },
          ),
        ),
        to: arr(
          obj(
            {
              operation: obj({
                hosts: stringList,
                notHosts: stringList,
                ports: arr(str({ pattern: /^\d{1,5}$/, patternHint: 'is not a port number (ports are strings in AuthorizationPolicy)' })),
                notPorts: stringList,
                methods: stringList,
                notMethods: stringList,
                paths: stringList,
                notPaths: stringList,
              }),
            },
            { required: ['operation'] },
          ),
        ),
        when: arr(
          obj(
            { key: str({ pattern: CONDITION_KEY_RE, patternHint: "is not a supported condition key (see Istio's AuthorizationPolicy conditions)" }), values: stringList, notValues: stringList },
            { required: ['key'] },
          ),
        ),
      }),
    ),
  },
  {
    unsupported: { targetRef: 'use selector', targetRefs: 'use selector' },
    check: (v, path, out) => {
      // CUSTOM names the external authorizer (an extensionProvider of the controller's --mesh-config).
      if (v.action === 'CUSTOM' && !v.provider) out.push({ path: `${path}.provider`, message: 'is required with action CUSTOM: the name of an extensionProvider in the mesh config' });
      if (v.provider && v.action !== 'CUSTOM') out.push({ path: `${path}.provider`, message: 'is only for action CUSTOM' });
    },
  },
);

/** Headers that frame the request or belong to the hop: a claim must not set them (request smuggling towards the application). */
const FRAMING_HEADERS = new Set(['host', 'content-length', 'transfer-encoding', 'connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'upgrade']);

const claimHeaderName = str({
  pattern: HTTP_TOKEN,
  patternHint: "is not a header name (letters, digits and !#$%&'*+-.^_`|~)",
  check: (h) => (FRAMING_HEADERS.has(h.toLowerCase()) ? `"${h}" frames the request or belongs to the connection; a claim cannot be copied to it` : undefined),
});

const jwtRule = obj(
  {
    issuer: str({ nonEmpty: true }),
    audiences: stringList,
    jwksUri: str({ pattern: /^https?:\/\//, patternHint: 'must be an http(s) URL' }),
    jwks: str({
      check: (s) => {
        try {
          const parsed = JSON.parse(s) as unknown;
          return isPlainObject(parsed) && Array.isArray(parsed.keys) ? undefined : 'must be a JWKS document: a JSON object with a "keys" list';
        } catch (err) {
          return `is not valid JSON: ${(err as Error).message}`;
        }
      },
    }),
    fromHeaders: arr(obj({ name: str({ nonEmpty: true }), prefix: str() }, { required: ['name'] })),
    fromParams: stringList,
    fromCookies: arr(cookieName),
    forwardOriginalToken: bool,
    outputPayloadToHeader: str(),
    outputClaimToHeaders: arr(obj({ header: claimHeaderName, claim: str({ nonEmpty: true }) }, { required: ['header', 'claim'] })),
    timeout: duration,
  },
  {
    required: ['issuer'],
    oneOf: [{ fields: ['jwks', 'jwksUri'] }],
    check: (v, path, out) => {
      // Istio: "The header specified in each operation in the list must be unique."
      const seen = new Set<string>();
      (Array.isArray(v.outputClaimToHeaders) ? (v.outputClaimToHeaders as unknown[]) : []).forEach((op, i) => {
        const header = isPlainObject(op) && typeof op.header === 'string' ? op.header.toLowerCase() : undefined;
        if (header === undefined) return;
        if (seen.has(header)) out.push({ path: `${path}.outputClaimToHeaders[${i}].header`, message: `"${header}" is named twice; each header may be set from one claim` });
        seen.add(header);
      });
    },
  },
);

const requestAuthentication = obj({ selector, jwtRules: arr(jwtRule) }, { unsupported: { targetRef: 'use selector', targetRefs: 'use selector' } });

const tokenBucket = obj(
  {
    maxTokens: int({ min: 1, max: 1_000_000_000 }),
    tokensPerFill: int({ min: 1, max: 1_000_000_000 }),
    fillInterval: str({
      check: (s) => {
        const ms = parseDurationMs(s);
        if (typeof ms === 'string') return ms;
        return ms < 50 ? `must be at least 50ms (as in Envoy), got ${s}` : undefined;
      },
    }),
  },
  { required: ['maxTokens', 'tokensPerFill', 'fillInterval'] },
);

const localRateLimit = obj(
  {
    selector,
    tokenBucket,
    routes: arr(obj({ name: str({ nonEmpty: true }), match: arr(httpMatch, { min: 1 }), tokenBucket }, { required: ['match', 'tokenBucket'] })),
  },
  { required: ['tokenBucket'], unsupported: { descriptors: 'per-descriptor limits are not implemented; use routes for per-route buckets' } },
);

// Telemetry. The sidecars have one access log (Istio's JSON format, on stdout: the built-in
// "envoy" provider), one trace exporter (--otlp-endpoint) and Prometheus metrics; providers name
// those, and metric customisation (overrides, tag changes) is refused by name.
const TELEMETRY_MODES = ['CLIENT', 'SERVER', 'CLIENT_AND_SERVER'] as const;
const providerNamed = (names: readonly string[], what: string) =>
  arr(obj({ name: str({ check: (n) => (names.includes(n) ? undefined : `"${n}" is not a provider here; use ${names.map((x) => `"${x}"`).join(' or ')} (${what})`) }) }, { required: ['name'] }));
const telemetryMatch = obj({ mode: str({ enum: TELEMETRY_MODES }) });
const telemetry = obj(
  {
    selector,
    accessLogging: arr(
      obj({
        providers: providerNamed(['envoy'], "the sidecar's JSON access log on stdout"),
        disabled: bool,
        filter: obj(
          {
            expression: str({
              nonEmpty: true,
              check: (text) => {
                try {
                  parseFilter(text);
                  return undefined;
                } catch (err) {
                  return err instanceof FilterSyntaxError ? `${err.message} (at character ${err.position + 1})` : String(err);
                }
              },
            }),
          },
          { required: ['expression'] },
        ),
        match: telemetryMatch,
      }),
    ),
    tracing: arr(
      obj(
        {
          providers: providerNamed(['opentelemetry', 'otel', 'zipkin'], 'the sidecar exports spans over OTLP to its --otlp-endpoint'),
          randomSamplingPercentage: num({ min: 0, max: 100 }),
          disableSpanReporting: bool,
          match: telemetryMatch,
        },
        { unsupported: { customTags: 'custom span tags are not supported', useRequestIdForTraceSampling: 'not supported' } },
      ),
    ),
    metrics: arr(
      obj(
        { providers: providerNamed(['prometheus'], "Istio's standard metrics on the status port") },
        { unsupported: { overrides: "Istio's standard metrics and labels are fixed here: overrides are not supported", reportingInterval: 'not supported' } },
      ),
    ),
  },
  { unsupported: { targetRef: 'use selector', targetRefs: 'use selector' } },
);

// Sidecar: egress hosts only, which is what trims a proxy's configuration to what it calls.
const EGRESS_HOST_RE = /^(\*|\.|~|[a-z0-9]([-a-z0-9]*[a-z0-9])?)\/(\*|(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*)$/;
const sidecar = obj(
  {
    workloadSelector: obj({ labels }, { required: ['labels'] }),
    egress: arr(
      obj(
        {
          hosts: arr(
            str({ pattern: EGRESS_HOST_RE, patternHint: 'is not namespace/host: the namespace *, . (this one), ~ (none) or a name; the host *, *.suffix or a DNS name, e.g. ./* or istio-system/*' }),
            { min: 1 },
          ),
        },
        { required: ['hosts'], unsupported: { port: 'egress listeners per port are not supported; the hosts apply to every port', bind: 'not supported', captureMode: 'not supported' } },
      ),
      { min: 1 },
    ),
  },
  {
    unsupported: {
      ingress: 'inbound listeners are declared by the agent (service files, container labels)',
      outboundTrafficPolicy: 'set it per sidecar with --outbound-traffic-policy',
      inboundConnectionPool: 'not supported',
    },
  },
);

export const SPEC_SCHEMAS: Record<Kind, Schema> = {
  VirtualService: virtualService,
  DestinationRule: destinationRule,
  ServiceEntry: serviceEntry,
  Gateway: gateway,
  PeerAuthentication: peerAuthentication,
  AuthorizationPolicy: authorizationPolicy,
  RequestAuthentication: requestAuthentication,
  Telemetry: telemetry,
  Sidecar: sidecar,
  LocalRateLimit: localRateLimit,
};
