// The ClientHello reader a passthrough gateway routes by (core/tls/client-hello.ts), against
// ClientHellos that Node's own TLS client (OpenSSL) sends: it finds the name asked for in the
// real thing, says "incomplete" for every prefix of it, and takes any mutation or random bytes
// without throwing or inventing a name that is not a DNS name.
import assert from 'node:assert/strict';
import { createServer, type AddressInfo } from 'node:net';
import { connect } from 'node:tls';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { MAX_CLIENT_HELLO, readClientHello } from '../../core/tls/client-hello.js';
import { fuzzParameters } from './fuzz-options.js';

/** The first bytes a TLS client sends when it asks for `servername` (none: no SNI). */
async function realClientHello(servername: string | undefined, port: number, captured: Map<number, Buffer>): Promise<Buffer> {
  const socket = connect({ port, host: '127.0.0.1', ...(servername ? { servername } : {}), rejectUnauthorized: false });
  socket.on('error', () => undefined);
  await new Promise<void>((resolve) => socket.once('connect', resolve));
  const local = socket.localPort!;
  for (let i = 0; i < 100 && !captured.has(local); i++) await new Promise((r) => setTimeout(r, 10));
  socket.destroy();
  const hello = captured.get(local);
  assert.ok(hello, 'captured a ClientHello');
  return hello;
}

describe('ClientHello reader', () => {
  const captured = new Map<number, Buffer>();
  const server = createServer((s) => {
    let got = Buffer.alloc(0);
    s.on('data', (d: Buffer) => {
      got = Buffer.concat([got, d]);
      if (readClientHello(got).kind !== 'incomplete') captured.set(s.remotePort!, got);
    });
    s.on('error', () => undefined);
  });
  const hellos = new Map<string, Buffer>();

  before(async () => {
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    for (const name of ['nginx.example.com', 'a.b', 'x'.repeat(63) + '.example.com']) hellos.set(name, await realClientHello(name, port, captured));
    hellos.set('', await realClientHello(undefined, port, captured));
  });
  after(() => server.close());

  it("reads the name Node's TLS client asks for, and no name when it asks for none", () => {
    for (const [name, hello] of hellos) assert.deepEqual(readClientHello(hello), name ? { kind: 'hello', serverName: name } : { kind: 'hello' });
  });

  it('says "incomplete" for every prefix, asking for more than it has', () => {
    for (const hello of hellos.values()) {
      for (let n = 0; n < hello.length; n++) {
        const r = readClientHello(hello.subarray(0, n));
        assert.equal(r.kind, 'incomplete', `prefix of ${n} bytes`);
        assert.ok(r.kind === 'incomplete' && r.needed > n && r.needed <= hello.length);
      }
    }
  });

  it('reads a ClientHello split over several records as the whole', () => {
    const hello = hellos.get('nginx.example.com')!;
    const body = hello.subarray(5);
    const cut = 40;
    const record = (b: Buffer) => Buffer.concat([Buffer.from([0x16, 0x03, 0x01, b.length >> 8, b.length & 0xff]), b]);
    assert.deepEqual(readClientHello(Buffer.concat([record(body.subarray(0, cut)), record(body.subarray(cut))])), { kind: 'hello', serverName: 'nginx.example.com' });
  });

  it('never throws on mutated or random bytes, and names only DNS names', () => {
    const real = [...hellos.values()];
    const mutated = fc
      .tuple(fc.nat({ max: real.length - 1 }), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }), fc.option(fc.nat()))
      .map(([i, edits, cutAt]) => {
        const b = Buffer.from(real[i]);
        for (const [at, v] of edits) b[at % b.length] = v;
        return cutAt === null ? b : b.subarray(0, cutAt % (b.length + 1));
      });
    const random = fc.uint8Array({ maxLength: 600 }).map((a) => Buffer.from([0x16, 0x03, 0x01, ...a]));
    fc.assert(
      fc.property(
        fc.oneof(
          mutated,
          random,
          fc.uint8Array({ maxLength: 64 }).map((a) => Buffer.from(a)),
        ),
        (bytes) => {
          const r = readClientHello(bytes);
          if (r.kind === 'hello' && r.serverName !== undefined) assert.match(r.serverName, /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/);
          if (r.kind === 'incomplete') assert.ok(r.needed > bytes.length && r.needed <= MAX_CLIENT_HELLO * 2);
        },
      ),
      fuzzParameters(3000),
    );
  });
});
