// The check of a sidecar's reported state (core/config-dump.ts), which the controller keeps and
// meshctl prints in an operator's terminal: any JSON is answered with violations, never an
// exception; a dump of the right shape passes; a control character anywhere in its text is found.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { configDumpViolations, type ConfigDump } from '../../core/config-dump.js';
import { fuzzParameters } from './fuzz-options.js';

const text = fc.string({ maxLength: 40 }).filter((s) => !/\p{Cc}/u.test(s));
const dumpArb: fc.Arbitrary<ConfigDump> = fc.record({
  proxy: fc.constant('p-1'),
  version: text,
  collectedAt: text,
  listeners: fc.array(fc.record({ address: text, port: fc.integer({ min: 0, max: 65535 }), type: text, match: text, destination: text }), { maxLength: 4 }),
  routes: fc.array(fc.record({ name: text, service: text, domains: fc.array(text, { maxLength: 3 }), match: text, destination: text }), { maxLength: 4 }),
  clusters: fc.array(fc.record({ name: text, fqdn: text, port: text, subset: text, direction: fc.constantFrom('outbound' as const, 'inbound' as const), tls: text, lb: text, endpoints: fc.nat() }), {
    maxLength: 4,
  }),
  endpoints: fc.array(
    fc.record({ endpoint: text, status: fc.constantFrom('HEALTHY' as const, 'UNHEALTHY' as const), outlierCheck: fc.constantFrom('OK' as const, 'FAILED' as const), cluster: text, via: text }),
    { maxLength: 4 },
  ),
  secrets: fc.array(
    fc.record({
      name: text,
      type: fc.constantFrom('Cert Chain' as const, 'CA' as const),
      status: fc.constantFrom('ACTIVE' as const, 'EXPIRED' as const),
      serial: text,
      notBefore: text,
      notAfter: text,
      identity: text,
    }),
    {
      maxLength: 3,
    },
  ),
});

/** Every path to a string in a JSON value. */
function stringPaths(v: unknown, at: (string | number)[] = []): (string | number)[][] {
  if (typeof v === 'string') return [at];
  if (Array.isArray(v)) return v.flatMap((x, i) => stringPaths(x, [...at, i]));
  if (v && typeof v === 'object') return Object.entries(v).flatMap(([k, x]) => stringPaths(x, [...at, k]));
  return [];
}

describe('config dump check', () => {
  it('answers any JSON with a list of violations, never an exception', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        const out = configDumpViolations(v, 'p-1');
        assert.ok(Array.isArray(out) && out.length <= 20);
      }),
      fuzzParameters(),
    );
  });

  it('passes a dump of the right shape, and finds a control character in any of its strings', () => {
    fc.assert(
      fc.property(dumpArb, fc.nat(), fc.integer({ min: 0, max: 0x1f }), (dump, pick, code) => {
        assert.deepEqual(configDumpViolations(dump, 'p-1'), []);
        const paths = stringPaths(dump).filter((p) => p[0] !== 'proxy');
        if (paths.length === 0) return;
        const path = paths[pick % paths.length];
        const copy = structuredClone(dump) as unknown as Record<string | number, unknown>;
        let holder = copy;
        for (const k of path.slice(0, -1)) holder = holder[k] as Record<string | number, unknown>;
        const last = path[path.length - 1];
        holder[last] = `${String(holder[last])}${String.fromCharCode(code)}`;
        assert.ok(configDumpViolations(copy, 'p-1').length > 0, `a control character at ${path.join('.')}`);
      }),
      fuzzParameters(),
    );
  });

  it('names the proxy it must be about', () => {
    assert.deepEqual(configDumpViolations({ proxy: 'other', version: '', collectedAt: '', listeners: [], routes: [], clusters: [], endpoints: [], secrets: [] }, 'p-1'), [
      { path: 'proxy', message: 'must be "p-1", the proxy of the URL' },
    ]);
  });
});
