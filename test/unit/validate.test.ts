import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MeshError } from '../../core/errors.js';
import { parseDocuments } from '../../core/resources/parse.js';
import { validateResource } from '../../core/resources/validate.js';

function violations(doc: unknown): { path: string; message: string }[] {
  try {
    validateResource(doc);
  } catch (err) {
    assert.ok(err instanceof MeshError);
    return err.violations;
  }
  assert.fail('expected the document to be rejected');
}

const vs = (spec: unknown, name = 'reviews') => ({ apiVersion: 'networking.istio.io/v1', kind: 'VirtualService', metadata: { name }, spec });

describe('resource validation', () => {
  it('accepts an Istio VirtualService as Istio users write it, under any served apiVersion', () => {
    const r = validateResource({
      apiVersion: 'networking.istio.io/v1beta1',
      kind: 'VirtualService',
      metadata: { name: 'reviews', namespace: 'default', uid: 'x', creationTimestamp: '2020-01-01T00:00:00Z' },
      spec: {
        hosts: ['reviews.default.svc.cluster.local'],
        http: [
          { match: [{ headers: { 'end-user': { exact: 'jason' } } }], route: [{ destination: { host: 'reviews', subset: 'v2' } }] },
          {
            route: [
              { destination: { host: 'reviews', subset: 'v1' }, weight: 75 },
              { destination: { host: 'reviews', subset: 'v3' }, weight: 25 },
            ],
            timeout: '0.5s',
            retries: { attempts: 3, perTryTimeout: '2s', retryOn: 'gateway-error,connect-failure,503' },
          },
        ],
      },
    });
    assert.equal(r.apiVersion, 'networking.istio.io/v1');
    assert.equal(r.metadata.namespace, 'default');
    assert.equal((r.metadata as unknown as Record<string, unknown>).uid, undefined);
  });

  it('reports every violation at once, each with its field path', () => {
    const v = violations(
      vs({
        hosts: ['reviews'],
        http: [
          {
            route: [
              { destination: { host: 'reviews', subset: 'v1' }, weight: 80 },
              { destination: { host: 'reviews', subset: 'v3' }, weight: 10 },
            ],
            timeout: '5 seconds',
            fault: { abort: { httpStatus: 700, percentage: { value: 150 } } },
            match: [{ uri: { regex: '((' } }, { port: 70000 }],
          },
        ],
      }),
    );
    const paths = v.map((x) => x.path).sort();
    assert.deepEqual(paths, [
      'spec.http[0].fault.abort.httpStatus',
      'spec.http[0].fault.abort.percentage.value',
      'spec.http[0].match[0].uri.regex',
      'spec.http[0].match[1].port',
      'spec.http[0].route',
      'spec.http[0].timeout',
    ]);
    assert.match(v.find((x) => x.path === 'spec.http[0].route')!.message, /weights must sum to 100, they sum to 90/);
  });

  it('names a field the mesh does not support instead of ignoring it', () => {
    const v = violations(vs({ hosts: ['reviews'], http: [{ route: [{ destination: { host: 'reviews' } }], corsPolicy: { allowOrigins: [{ exact: '*' }] }, delegate: { name: 'reviews' } }] }));
    assert.deepEqual(
      v.map((x) => x.path),
      ['spec.http[0].delegate'],
    );
    assert.ok(v.every((x) => x.message.startsWith('not supported by this mesh')));
    const typo = violations(vs({ hosts: ['reviews'], http: [{ route: [{ destination: { host: 'reviews', subsett: 'v1' } }] }] }));
    assert.equal(typo[0].path, 'spec.http[0].route[0].destination.subsett');
    assert.match(typo[0].message, /unknown field; supported fields here: host, subset, port/);
  });

  it('checks types, enums and mutually exclusive fields', () => {
    const v = violations({
      apiVersion: 'networking.istio.io/v1',
      kind: 'DestinationRule',
      metadata: { name: 'r' },
      spec: {
        host: 'reviews',
        trafficPolicy: { loadBalancer: { simple: 'FASTEST', consistentHash: { useSourceIp: true } }, connectionPool: { tcp: { maxConnections: '10' } }, outlierDetection: { maxEjectionPercent: 101 } },
        subsets: [
          { name: 'v1', labels: { version: 'v1' } },
          { name: 'v1', labels: { version: 'v2' } },
        ],
      },
    });
    const byPath = Object.fromEntries(v.map((x) => [x.path, x.message]));
    assert.match(byPath['spec.trafficPolicy.loadBalancer.simple'], /"FASTEST" is not one of/);
    assert.match(byPath['spec.trafficPolicy.loadBalancer.consistentHash'], /only one of simple, consistentHash/);
    assert.match(byPath['spec.trafficPolicy.connectionPool.tcp.maxConnections'], /must be an integer, got string/);
    assert.match(byPath['spec.trafficPolicy.outlierDetection.maxEjectionPercent'], /at most 100/);
    assert.match(byPath['spec.subsets[1].name'], /already defined at subsets\[0\]/);
  });

  it('refuses a consistent-hash cookie name that is not a cookie name (it was used as a pattern)', () => {
    const dr = (name: string) => ({
      apiVersion: 'networking.istio.io/v1',
      kind: 'DestinationRule',
      metadata: { name: 'r' },
      spec: { host: 'reviews', trafficPolicy: { loadBalancer: { consistentHash: { httpCookie: { name, ttl: '0s' } } } } },
    });
    assert.doesNotThrow(() => validateResource(dr('user.session')));
    assert.deepEqual(
      violations(dr('session(')).map((x) => `${x.path}: ${x.message}`),
      ['spec.trafficPolicy.loadBalancer.consistentHash.httpCookie.name: "session(" is not a cookie name (letters, digits and !#$%&\'*+-.^_`|~)'],
    );
  });

  it('checks a regex rewrite: one of uri and uriRegexRewrite, a pattern that compiles, groups it has', () => {
    const rewrite = (r: unknown) => violations(vs({ hosts: ['reviews'], http: [{ rewrite: r, route: [{ destination: { host: 'reviews' } }] }] })).map((x) => `${x.path}: ${x.message}`);
    assert.deepEqual(rewrite({ uri: '/x', uriRegexRewrite: { match: '^/(a)$', rewrite: '/\\1' } }), [
      'spec.http[0].rewrite.uriRegexRewrite: only one of uri, uriRegexRewrite may be set, found uri and uriRegexRewrite',
    ]);
    assert.deepEqual(rewrite({ uriRegexRewrite: { match: '^/(a)$', rewrite: '/\\2' } }), ['spec.http[0].rewrite.uriRegexRewrite.rewrite: \\2 names group 2, but the pattern has 1 group']);
    assert.match(rewrite({ uriRegexRewrite: { match: '(', rewrite: '/' } })[0], /^spec\.http\[0\]\.rewrite\.uriRegexRewrite\.match: the pattern is not a valid regular expression/);
    assert.deepEqual(rewrite({ uriRegexRewrite: { match: '^/a' } }), ['spec.http[0].rewrite.uriRegexRewrite.rewrite: is required']);
  });

  it('takes a fault abort with an HTTP status or a gRPC code name, one of the two', () => {
    const abort = (a: unknown) => violations(vs({ hosts: ['reviews'], http: [{ fault: { abort: a }, route: [{ destination: { host: 'reviews' } }] }] })).map((x) => `${x.path}: ${x.message}`);
    assert.deepEqual(abort({ grpcStatus: '14' }), [
      'spec.http[0].fault.abort.grpcStatus: "14" is not one of OK, CANCELLED, UNKNOWN, INVALID_ARGUMENT, DEADLINE_EXCEEDED, NOT_FOUND, ALREADY_EXISTS, PERMISSION_DENIED, RESOURCE_EXHAUSTED, FAILED_PRECONDITION, ABORTED, OUT_OF_RANGE, UNIMPLEMENTED, INTERNAL, UNAVAILABLE, DATA_LOSS, UNAUTHENTICATED',
    ]);
    assert.deepEqual(abort({ httpStatus: 503, grpcStatus: 'UNAVAILABLE' }), ['spec.http[0].fault.abort.grpcStatus: only one of httpStatus, grpcStatus may be set, found httpStatus and grpcStatus']);
    assert.deepEqual(abort({ percentage: { value: 10 } }), ['spec.http[0].fault.abort: one of httpStatus, grpcStatus is required']);
  });

  it('takes mirrors, each with a destination, and not beside mirror', () => {
    const route = (r: object) => violations(vs({ hosts: ['reviews'], http: [{ route: [{ destination: { host: 'reviews' } }], ...r }] })).map((x) => `${x.path}: ${x.message}`);
    assert.deepEqual(route({ mirrors: [{ percentage: { value: 5 } }] }), ['spec.http[0].mirrors[0].destination: is required']);
    assert.deepEqual(route({ mirror: { host: 'reviews' }, mirrors: [{ destination: { host: 'ratings' } }] }), [
      'spec.http[0].mirrors: cannot be combined with mirror: list every mirror here, each with its percentage',
    ]);
  });

  it("takes tcpKeepalive in whole seconds the kernel accepts, and Istio's reference example", () => {
    const dr = (tcp: object) => ({ apiVersion: 'networking.istio.io/v1', kind: 'DestinationRule', metadata: { name: 'r' }, spec: { host: 'reviews', trafficPolicy: { connectionPool: { tcp } } } });
    assert.doesNotThrow(() => validateResource(dr({ maxConnections: 100, connectTimeout: '30ms', tcpKeepalive: { time: '7200s', interval: '75s' } })));
    assert.deepEqual(
      violations(dr({ tcpKeepalive: { time: '500ms', interval: '1.5s', probes: 200 } }))
        .map((x) => `${x.path}: ${x.message}`)
        .sort(),
      [
        'spec.trafficPolicy.connectionPool.tcp.tcpKeepalive.probes: must be at most 127, got 200',
        "spec.trafficPolicy.connectionPool.tcp.tcpKeepalive.time: must be whole seconds from 1s to 32767s (the kernel's unit and range), got 500ms",
        "spec.trafficPolicy.connectionPool.tcp.tcpKeepalive.interval: must be whole seconds from 1s to 32767s (the kernel's unit and range), got 1.5s",
      ].sort(),
    );
  });

  it("refuses regexes RE2 (Istio's syntax) does not have: backreferences and lookarounds", () => {
    const routes = (http: object[]) => violations(vs({ hosts: ['reviews'], http })).map((x) => `${x.path}: ${x.message}`);
    assert.deepEqual(routes([{ match: [{ uri: { regex: '/(a+)\\1' } }, { headers: { user: { regex: '(?!admin).*' } } }], route: [{ destination: { host: 'reviews' } }] }]), [
      'spec.http[0].match[0].uri.regex: "/(a+)\\1" uses a backreference (\\1), which RE2 (Istio\'s regex syntax) does not have',
      'spec.http[0].match[1].headers["user"].regex: "(?!admin).*" uses a lookahead ((?!...)), which RE2 (Istio\'s regex syntax) does not have',
    ]);
    assert.deepEqual(routes([{ rewrite: { uriRegexRewrite: { match: '(?<=/v1)/x', rewrite: '/y' } }, route: [{ destination: { host: 'reviews' } }] }]), [
      "spec.http[0].rewrite.uriRegexRewrite.match: the pattern uses a lookbehind ((?<=...)), which RE2 (Istio's regex syntax) does not have",
    ]);
  });

  it('validates security resources with Istio rules', () => {
    const pa = violations({
      apiVersion: 'security.istio.io/v1',
      kind: 'PeerAuthentication',
      metadata: { name: 'p' },
      spec: { mtls: { mode: 'STRICTER' }, portLevelMtls: { abc: { mode: 'DISABLE' } } },
    });
    assert.deepEqual(pa.map((x) => x.path).sort(), ['spec.mtls.mode', 'spec.portLevelMtls', 'spec.portLevelMtls["abc"]']);
    const ap = violations({
      apiVersion: 'security.istio.io/v1',
      kind: 'AuthorizationPolicy',
      metadata: { name: 'a' },
      spec: { action: 'ALLOW', rules: [{ to: [{ operation: { ports: [8080] } }], when: [{ key: 'request.color', values: ['x'] }] }] },
    });
    assert.deepEqual(ap.map((x) => x.path).sort(), ['spec.rules[0].to[0].operation.ports[0]', 'spec.rules[0].when[0].key']);
    const ra = violations({ apiVersion: 'security.istio.io/v1', kind: 'RequestAuthentication', metadata: { name: 'r' }, spec: { jwtRules: [{ jwks: '{not json', jwksUri: 'https://x/jwks' }] } });
    assert.deepEqual(ra.map((x) => x.path).sort(), ['spec.jwtRules[0].issuer', 'spec.jwtRules[0].jwks', 'spec.jwtRules[0].jwksUri']);
    const claims = violations({
      apiVersion: 'security.istio.io/v1',
      kind: 'RequestAuthentication',
      metadata: { name: 'r' },
      spec: {
        jwtRules: [
          {
            issuer: 'i',
            jwksUri: 'https://x/jwks',
            fromCookies: ['session', 'bad name'],
            outputClaimToHeaders: [
              { header: 'x-jwt-group', claim: 'group' },
              { header: 'X-JWT-Group', claim: 'nested.group' },
              { header: 'content-length', claim: 'n' },
              { header: 'x y', claim: 'n' },
              { header: 'x-sub' },
            ],
          },
        ],
      },
    });
    assert.deepEqual(
      claims.map((x) => `${x.path}: ${x.message}`),
      [
        'spec.jwtRules[0].fromCookies[1]: "bad name" is not a cookie name (letters, digits and !#$%&\'*+-.^_`|~)',
        'spec.jwtRules[0].outputClaimToHeaders[2].header: "content-length" frames the request or belongs to the connection; a claim cannot be copied to it',
        'spec.jwtRules[0].outputClaimToHeaders[3].header: "x y" is not a header name (letters, digits and !#$%&\'*+-.^_`|~)',
        'spec.jwtRules[0].outputClaimToHeaders[4].claim: is required',
        'spec.jwtRules[0].outputClaimToHeaders[1].header: "x-jwt-group" is named twice; each header may be set from one claim',
      ],
    );
  });

  it('validates Gateways and gateway bindings with Istio rules, every violation with its path', () => {
    const gw = violations({
      apiVersion: 'networking.istio.io/v1',
      kind: 'Gateway',
      metadata: { name: 'g' },
      spec: {
        selector: { istio: 'ingressgateway' },
        servers: [
          { port: { number: 443, name: 'https', protocol: 'HTTPS' }, hosts: ['bookinfo.com'] },
          { port: { number: 443, protocol: 'TCP' }, hosts: ['*'] },
          { port: { number: 80, protocol: 'HTTP' }, hosts: ['bad host!'], tls: { mode: 'SIMPLE', serverCertificate: '/etc/certs/cert.pem' } },
          { port: { number: 8443, protocol: 'HTTPS' }, hosts: ['ns/*.example.com'], tls: { mode: 'SIMPLE' } },
          { port: { number: 9443, protocol: 'HTTPS' }, hosts: ['*'], tls: { mode: 'PASSTHROUGH' } },
        ],
      },
    });
    assert.deepEqual(gw.map((x) => x.path).sort(), [
      'spec.servers[0].tls.mode',
      'spec.servers[1].port.protocol',
      'spec.servers[2].hosts[0]',
      'spec.servers[2].tls.credentialName',
      'spec.servers[2].tls.mode',
      'spec.servers[2].tls.serverCertificate',
      'spec.servers[3].tls.credentialName',
      'spec.servers[4].tls.mode',
    ]);
    // TLS servers pass TLS through by SNI; ending it there is refused as not served yet, never accepted and left unserved.
    const gwDoc = (mode: string) => ({
      apiVersion: 'networking.istio.io/v1',
      kind: 'Gateway',
      metadata: { name: 't' },
      spec: { servers: [{ port: { number: 443, protocol: 'TLS' }, hosts: ['*'], tls: { mode } }] },
    });
    assert.doesNotThrow(() => validateResource(gwDoc('PASSTHROUGH')));
    const endsTls = violations(gwDoc('ISTIO_MUTUAL'));
    assert.deepEqual(
      endsTls.map((x) => x.path),
      ['spec.servers[0].tls.mode'],
    );
    assert.match(endsTls[0].message, /not implemented yet/);
    const tlsRoutes = (gateways: string[]) => ({
      apiVersion: 'networking.istio.io/v1',
      kind: 'VirtualService',
      metadata: { name: 'n' },
      spec: { hosts: ['nginx.example.com'], gateways, tls: [{ match: [{ port: 443, sniHosts: ['nginx.example.com'] }], route: [{ destination: { host: 'my-nginx' } }] }] },
    });
    assert.doesNotThrow(() => validateResource(tlsRoutes(['mygateway'])));
    assert.deepEqual(
      violations(tlsRoutes(['mygateway', 'mesh'])).map((x) => x.path),
      ['spec.tls'],
    );
    assert.match(gw.find((x) => x.path === 'spec.servers[2].tls.serverCertificate')!.message, /meshctl secret create tls/);
    const doc = (gateways: string[], hosts: string[]) => ({
      apiVersion: 'networking.istio.io/v1',
      kind: 'VirtualService',
      metadata: { name: 'v' },
      spec: { hosts, gateways, http: [{ route: [{ destination: { host: 'a' } }] }] },
    });
    const vs = (gateways: string[], hosts: string[]) => violations(doc(gateways, hosts));
    assert.doesNotThrow(() => validateResource(doc(['bookinfo-gateway'], ['*'])));
    assert.doesNotThrow(() => validateResource(doc(['istio-system/ingress', 'mesh'], ['reviews'])));
    assert.deepEqual(
      vs(['mesh'], ['*']).map((x) => x.path),
      ['spec.hosts'],
    );
    assert.deepEqual(
      vs([], ['*']).map((x) => x.path),
      ['spec.hosts'],
    );
    assert.deepEqual(
      vs(['Not A Gateway'], ['a']).map((x) => x.path),
      ['spec.gateways[0]'],
    );
  });

  it('rejects unknown kinds and wrong apiVersions with what to use', () => {
    assert.throws(
      () => validateResource({ apiVersion: 'networking.istio.io/v1', kind: 'EnvoyFilter', metadata: { name: 'g' }, spec: {} }),
      (e: MeshError) => e.code === 'UNKNOWN_KIND' && /EnvoyFilter/.test(e.message) && /VirtualService/.test(e.message),
    );
    const v = violations({ apiVersion: 'security.istio.io/v1', kind: 'VirtualService', metadata: { name: 'x' }, spec: { hosts: ['a'], http: [{ route: [{ destination: { host: 'a' } }] }] } });
    assert.equal(v[0].path, 'apiVersion');
    assert.match(v[0].message, /use one of networking\.istio\.io\/v1/);
  });

  it('gives the line of a YAML syntax error', () => {
    const text = 'apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata:\n  name: x\nspec:\n  hosts: [a\n';
    assert.throws(
      () => parseDocuments(text, 'bad.yaml'),
      (e: MeshError) => e.code === 'PARSE_ERROR' && /^bad\.yaml, line \d+:/.test(e.message),
    );
    assert.throws(
      () => parseDocuments('a: 1\na: 2\n', 'dup.yaml'),
      (e: MeshError) => e.code === 'PARSE_ERROR' && /line 2/.test(e.message),
    );
  });

  it('splits multi-document YAML and names each document by line', () => {
    const docs = parseDocuments('---\na: 1\n---\n# only a comment\n---\nb: 2\n', 'f.yaml');
    assert.deepEqual(
      docs.map((d) => d.value),
      [{ a: 1 }, { b: 2 }],
    );
    assert.match(docs[1].where, /line 6/);
  });

  it('reads deprecated Istio fields as their replacements, with a warning naming each', () => {
    const warnings: { path: string; message: string }[] = [];
    const doc = vs({
      hosts: ['ratings'],
      http: [
        { fault: { delay: { percent: 100, fixedDelay: '2s' } }, route: [{ destination: { host: 'ratings' } }], mirror: { host: 'ratings' }, mirror_percent: 5 },
        { route: [{ destination: { host: 'ratings' } }], corsPolicy: { allowOrigin: ['https://a.example'] } },
      ],
    });
    const before = JSON.stringify(doc);
    const r = validateResource(doc, 'resource', warnings);
    const http = (r.spec as { http: Record<string, any>[] }).http;
    assert.deepEqual(http[0].fault.delay, { fixedDelay: '2s', percentage: { value: 100 } });
    assert.deepEqual(http[0].mirrorPercentage, { value: 5 });
    assert.equal(http[0].mirror_percent, undefined);
    assert.deepEqual(http[1].corsPolicy, { allowOrigins: [{ exact: 'https://a.example' }] });
    assert.deepEqual(
      warnings.map((w) => w.path),
      ['spec.http[0].fault.delay.percent', 'spec.http[0].mirror_percent', 'spec.http[1].corsPolicy.allowOrigin'],
    );
    assert.match(warnings[0].message, /deprecated in Istio; read as percentage.value: 100/);
    assert.equal(JSON.stringify(doc), before, 'the input is not changed');
  });

  it('refuses Istio annotations it does not implement, and checks dry-run', () => {
    const ap = (annotations: Record<string, string>, action = 'DENY') => ({
      apiVersion: 'security.istio.io/v1',
      kind: 'AuthorizationPolicy',
      metadata: { name: 'p', annotations },
      spec: { action, rules: [{ to: [{ operation: { paths: ['/x'] } }] }] },
    });
    assert.equal(validateResource(ap({ 'istio.io/dry-run': 'true', 'kubectl.kubernetes.io/last-applied-configuration': '{}' })).metadata.annotations?.['istio.io/dry-run'], 'true');
    assert.deepEqual(
      violations(ap({ 'sidecar.istio.io/inject': 'false' })).map((v) => v.path),
      ['metadata.annotations["sidecar.istio.io/inject"]'],
    );
    assert.match(violations(ap({ 'istio.io/dry-run': 'yes' }))[0].message, /must be one of "true", "false"/);
    assert.match(violations(ap({ 'istio.io/dry-run': 'true' }, 'CUSTOM'))[0].message, /ALLOW and DENY/);
    assert.match(
      violations({ ...vs({ hosts: ['r'], http: [{ route: [{ destination: { host: 'r' } }] }] }), metadata: { name: 'r', annotations: { 'istio.io/dry-run': 'true' } } })[0].message,
      /AuthorizationPolicy only/,
    );
  });
});
