// Property tests of the decisions that face untrusted input: path normalisation with
// authorization (no path is allowed that the application reads as a denied one), JWT parsing
// (no forged or altered token is accepted), the resource validators and compiler (hostile YAML or
// JSON is refused with a MeshError, never a crash, and what validation passes compiles), and
// the CSR parser (no altered request yields another identity).
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { ServiceInstance } from '../../core/catalog-model.js';
import { MeshError } from '../../core/errors.js';
import { parseCsr } from '../../core/pki/x509.js';
import { checkTlsCredential } from '../../core/pki/tls-credential.js';
import { authorize } from '../../core/policy/authz.js';
import { authenticateJwt } from '../../core/policy/jwt.js';
import { normaliseFully, normalisePath } from '../../core/policy/paths.js';
import { parseDocuments } from '../../core/resources/parse.js';
import { validateResource } from '../../core/resources/validate.js';
import { SnapshotCompiler } from '../../core/snapshot/compile.js';
import type { CompiledJwtRule, InboundConfig } from '../../core/snapshot/types.js';
import { applicationView, readAsAdmin } from '../helpers/app-view.js';
import { testIssuer } from '../helpers/jwt.js';
import { workloadCsr } from '../helpers/workload.js';
import { fuzzParameters } from './fuzz-options.js';
import { opensslCa } from '../helpers/openssl-ca.js';

const root = new URL('../../../', import.meta.url).pathname;

/** Path pieces an attacker combines: encodings, dot segments, slashes, separators. */
const segment = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom('admin', 'public', 'x', '', '.', '..') },
  fc.constantFrom(
    '%61dmin',
    '%41dmin',
    'adm%69n',
    'ADMIN',
    '%2e',
    '%2E%2e',
    '.%2e',
    '%2561dmin',
    'admin;x',
    'admin%3B',
    'admin%20',
    '%20admin',
    'admin.',
    'admin%2f',
    '%2F',
    '%5c',
    '\\',
    '%00',
    '%',
    '%zz',
    'admin?',
    '#',
    '%23',
    '~',
    '%7e',
    '%u0061',
  ),
  fc.stringMatching(/^[!-~]{0,6}$/),
);
const rawPath = fc
  .tuple(fc.array(segment, { minLength: 1, maxLength: 6 }), fc.array(fc.constantFrom('/', '//', '/./', '/../'), { minLength: 6, maxLength: 6 }), fc.constantFrom('', '?a=1', '?/admin', '#x'))
  .map(([segs, seps, query]) => `/${segs.map((s, i) => (i === 0 ? s : seps[i] + s)).join('')}${query}`);

const denyAdmin: InboundConfig['authorization'] = { deny: [{ name: 'default/no-admin', rules: [{ from: [], to: [{ paths: ['/admin', '/admin/*'] }], when: [] }] }], allow: [], audit: [] };

describe('path normalisation and authorization', () => {
  it('never allows a path that the application reads as a denied one', () => {
    fc.assert(
      fc.property(rawPath, (raw) => {
        const q = raw.indexOf('?');
        const n = normalisePath(q === -1 ? raw : raw.slice(0, q));
        if (!n.path) return; // refused with 400
        const d = authorize(denyAdmin, { sourceIp: '10.0.0.1', host: 'backend', port: 80, method: 'GET', path: n.path, headers: {} });
        if (!d.allowed) return;
        const forwarded = n.path + (q === -1 ? '' : raw.slice(q));
        assert.ok(!readAsAdmin(forwarded), `${JSON.stringify(raw)} passes as ${n.path}, which the application reads as ${applicationView(forwarded)}`);
      }),
      fuzzParameters(2000),
    );
  });

  it('takes the shortcut only for paths the full pass leaves as they are', () => {
    const pathChars = fc.constantFrom('/', '//', '.', '..', '%2e', '%2F', '%41', '%', '\\', '#', 'a', 'b.', '.c', '~', ' ', '?');
    fc.assert(
      fc.property(
        fc.oneof(
          rawPath,
          fc.string({ unit: 'binary-ascii', maxLength: 40 }).map((s) => `/${s}`),
          fc.array(pathChars, { maxLength: 10 }).map((p) => p.join('')),
        ),
        (raw) => {
          assert.deepEqual(normalisePath(raw), normaliseFully(raw), JSON.stringify(raw));
        },
      ),
      fuzzParameters(2000),
    );
  });

  it('normalises to a fixed point: matching and forwarding see the same path', () => {
    fc.assert(
      fc.property(fc.oneof(rawPath, fc.string({ maxLength: 40 })), (raw) => {
        const n = normalisePath(raw.split('?')[0]);
        if (!n.path) return assert.ok(n.reason, 'a refusal says why');
        assert.ok(n.path.startsWith('/') && !n.path.includes('//'), n.path);
        assert.equal(normalisePath(n.path).path, n.path, `normalising ${n.path} again changes it`);
      }),
      fuzzParameters(2000),
    );
  });
});

describe('JWT', () => {
  const issuer = testIssuer('ES256');
  const rules: CompiledJwtRule[] = [
    { issuer: 'https://issuer.test', audiences: [], fromHeaders: [{ name: 'authorization', prefix: 'Bearer ' }], fromParams: ['access_token'], jwks: issuer.jwks } as unknown as CompiledJwtRule,
  ];
  const keys = () => (JSON.parse(issuer.jwks) as { keys: never[] }).keys;
  const now = Math.floor(Date.now() / 1000);
  const genuine = issuer.token({ iss: 'https://issuer.test', sub: 'alice', exp: now + 600 });
  const alg = (a: string) => Buffer.from(JSON.stringify({ alg: a, typ: 'JWT', kid: 'k1' })).toString('base64url');
  const payload = (claims: object) => Buffer.from(JSON.stringify(claims)).toString('base64url');
  const [h0, p0, s0] = genuine.split('.');

  /** Tokens an attacker makes from a genuine one. */
  const forged = fc.oneof(
    fc.tuple(fc.nat(), fc.integer({ min: 0x21, max: 0x7e })).map(([at, c]) => {
      const i = at % genuine.length;
      return genuine.slice(0, i) + String.fromCharCode(c) + genuine.slice(i + 1);
    }),
    fc.constantFrom('none', 'HS256', 'RS256', 'ES384', 'EdDSA', '').map((a) => `${alg(a)}.${p0}.${s0}`),
    fc.constantFrom('none', 'HS256').map((a) => `${alg(a)}.${p0}.`),
    fc.record({ sub: fc.constantFrom('admin', 'alice'), iss: fc.constantFrom('https://issuer.test', 'https://evil.test'), exp: fc.integer() }).map((c) => `${h0}.${payload(c)}.${s0}`),
    fc.string({ maxLength: 60 }),
    fc.array(fc.stringMatching(/^[A-Za-z0-9_-]{0,20}$/), { minLength: 1, maxLength: 5 }).map((p) => p.join('.')),
  );

  it('accepts no token but the genuine one, and never throws', () => {
    fc.assert(
      fc.property(forged, fc.constantFrom('header', 'param'), (token, where) => {
        const headers = where === 'header' ? { authorization: `Bearer ${token}` } : {};
        const query = new URLSearchParams(where === 'param' ? { access_token: token } : {});
        const r = authenticateJwt(rules, headers, query, keys, now);
        if (r.principal === undefined) return;
        const [h, p, s] = token.trim().split('.');
        // base64url has spare bits: another spelling of the same signature bytes is the same token.
        assert.ok(h === h0 && p === p0 && Buffer.from(s, 'base64url').equals(Buffer.from(s0, 'base64url')), `accepted an altered token: ${token}`);
        assert.equal(r.principal, 'https://issuer.test/alice');
      }),
      fuzzParameters(1000),
    );
  });
});

/** Every YAML document the tests and Istio's samples hold: the seeds that the mutations bend. */
function seedDocuments(): unknown[] {
  const files: string[] = [join(root, 'test/fixtures/snapshot-input.yaml')];
  const walk = (dir: string) => {
    for (const f of readdirSync(dir)) {
      const p = join(dir, f);
      if (statSync(p).isDirectory()) walk(p);
      else if (/\.ya?ml$/.test(f)) files.push(p);
    }
  };
  // Istio's own samples (the copy in the repository), gateways included.
  walk(join(root, 'test/fixtures/istio-samples'));
  return files.flatMap((f) => {
    try {
      return parseDocuments(readFileSync(f, 'utf8'), f).map((d) => d.value);
    } catch {
      return [];
    }
  });
}

/** Replaces the value at one path of `doc` (chosen by `pick`) with `value`. */
function mutate(doc: unknown, pick: number, value: unknown): unknown {
  const copy = structuredClone(doc) as Record<string, unknown>;
  const paths: (string | number)[][] = [];
  const visit = (v: unknown, path: (string | number)[]) => {
    paths.push(path);
    if (Array.isArray(v)) v.forEach((x, i) => visit(x, [...path, i]));
    else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) visit(x, [...path, k]);
  };
  visit(copy, []);
  const path = paths[pick % paths.length];
  if (path.length === 0) return value;
  let parent: any = copy;
  for (const k of path.slice(0, -1)) parent = parent[k];
  parent[path[path.length - 1]] = value;
  return copy;
}

describe('resource validation and compilation', () => {
  const seeds = seedDocuments();
  const instances = (service: string): ServiceInstance[] => [
    { id: `${service}-1`, service, namespace: 'default', address: '10.0.0.1', port: 9080, protocol: 'http', labels: { version: 'v1', app: service }, sidecar: { inboundPort: 15006 }, healthy: true },
  ];
  // Often of a plausible type (a string, a number), so that mutated documents also pass validation and reach the compiler.
  const hostile = fc.oneof(
    { weight: 3, arbitrary: fc.string({ maxLength: 12 }) },
    { weight: 2, arbitrary: fc.integer({ min: -5, max: 70000 }) },
    fc.jsonValue({ maxDepth: 3 }),
    fc.constantFrom(null, -1, 0, 1e308, '', '*', '../', '\u0000', [], {}, { exact: 1 }, [null], 'x'.repeat(300)),
  );

  it('refuses hostile documents with a MeshError, and compiles whatever it accepts', () => {
    assert.ok(seeds.length > 5, 'seed documents');
    let accepted = 0;
    fc.assert(
      fc.property(fc.nat({ max: seeds.length - 1 }), fc.array(fc.tuple(fc.nat(), hostile), { minLength: 1, maxLength: 3 }), (which, edits) => {
        let doc = seeds[which];
        for (const [pick, value] of edits) doc = mutate(doc, pick, value);
        let resource;
        try {
          resource = validateResource(doc, 'fuzzed');
        } catch (err) {
          assert.ok(err instanceof MeshError, `validation threw ${(err as Error).stack} for ${JSON.stringify(doc)}`);
          return;
        }
        accepted++;
        const services = new Map([
          ['default/reviews', instances('reviews')],
          ['default/productpage', instances('productpage')],
          ['foo/httpbin', instances('httpbin')],
        ]);
        const compiler = new SnapshotCompiler({ resources: [resource], services, trustDomain: 'cluster.local', rootNamespace: 'istio-system', trustBundle: [] });
        for (const proxy of [
          { id: 'reviews-1', service: 'reviews', namespace: 'default' },
          { id: 'httpbin-1', service: 'httpbin', namespace: 'foo' },
          { id: 'gw-1', service: 'istio-ingressgateway', namespace: 'istio-system', labels: { istio: 'ingressgateway' }, gateway: true },
        ]) {
          try {
            compiler.compile(proxy);
          } catch (err) {
            assert.fail(`a resource that passed validation does not compile: ${(err as Error).stack}\n${JSON.stringify(doc)}`);
          }
        }
      }),
      fuzzParameters(1500),
    );
    assert.ok(accepted > 0, 'some mutated documents pass validation, so the compiler is exercised too');
    console.log(`# ${accepted} mutated documents passed validation and compiled`);
  });

  it('reads hostile YAML into documents or a PARSE_ERROR, never a crash', () => {
    const yamlish = fc
      .array(
        fc.oneof(
          fc.constantFrom(
            'a: &x [1,2]\n',
            'b: *x\n',
            '---\n',
            'c: !!js/function x\n',
            '- [\n',
            '{a: 1, a: 2}\n',
            'k: |\n  x\n',
            '? [a]\n: b\n',
            '%YAML 1.1\n',
            'x: !!binary AA==\n',
            '<<: *x\n',
            '"\\u0000"\n',
          ),
          fc.string({ maxLength: 20 }),
        ),
        { maxLength: 8 },
      )
      .map((parts) => parts.join(''));
    fc.assert(
      fc.property(yamlish, (text) => {
        try {
          parseDocuments(text, 'fuzz.yaml');
        } catch (err) {
          assert.ok(err instanceof MeshError && err.code === 'PARSE_ERROR', `parse threw ${(err as Error).stack} for ${JSON.stringify(text)}`);
        }
      }),
      fuzzParameters(1000),
    );
  });
});

describe('CSR parser', () => {
  const identity = 'spiffe://cluster.local/ns/default/sa/reviews';
  const { csr } = workloadCsr([identity]);
  const der = Buffer.from(csr.replace(/-----[^-]+-----|\s/g, ''), 'base64');
  const pem = (b: Buffer) => `-----BEGIN CERTIFICATE REQUEST-----\n${b.toString('base64').replace(/.{64}/g, '$&\n')}\n-----END CERTIFICATE REQUEST-----\n`;

  it('refuses altered and random requests with a MeshError, and no alteration yields another identity', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 3 }).map((flips) => {
            const b = Buffer.from(der);
            for (const [at, v] of flips) b[at % b.length] = v;
            return b;
          }),
          fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)),
        ),
        (bytes) => {
          try {
            const parsed = parseCsr(pem(bytes));
            assert.deepEqual(parsed.uris, [identity], 'an altered CSR that still verifies names the same identity');
          } catch (err) {
            assert.ok(err instanceof MeshError, `parseCsr threw ${(err as Error).stack}`);
          }
        },
      ),
      fuzzParameters(1000),
    );
  });
});

describe('TLS credentials (meshctl secret create tls)', () => {
  const ca = opensslCa('/CN=fuzz CA');
  ca.issue('server', { dns: ['example.com'] });
  const [cert, key, caPem] = [ca.read('server.pem'), ca.read('server.key'), ca.read('ca.pem')];
  ca.remove();
  // Mangled PEM: a real block with bytes changed, cut, doubled or mixed with another.
  const mangled = (pem: string) =>
    fc.oneof(
      fc.tuple(fc.nat({ max: pem.length - 1 }), fc.string({ minLength: 1, maxLength: 4 })).map(([i, x]) => pem.slice(0, i) + x + pem.slice(i + x.length)),
      fc.nat({ max: pem.length }).map((i) => pem.slice(0, i)),
      fc.constant(pem + pem),
      fc.string({ maxLength: 200 }),
      fc.constantFrom('', '-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----', key, cert),
    );

  it('accepts the genuine credential and refuses anything mangled with a MeshError naming the field, never a crash', () => {
    assert.deepEqual(checkTlsCredential({ cert, key, ca: caPem }).info.dnsNames, ['example.com']);
    fc.assert(
      fc.property(mangled(cert), mangled(key), fc.option(mangled(caPem)), (c, k, a) => {
        try {
          checkTlsCredential({ cert: c, key: k, ...(a === null ? {} : { ca: a }) });
        } catch (err) {
          assert.ok(err instanceof MeshError && err.code === 'VALIDATION_FAILED', `threw ${(err as Error).stack}`);
          assert.ok(err.violations.length > 0 && err.violations.every((v) => ['cert', 'key', 'ca'].includes(v.path)), JSON.stringify(err.violations));
        }
      }),
      fuzzParameters(300),
    );
  });
});
