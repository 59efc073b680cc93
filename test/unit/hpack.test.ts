// HPACK against the examples of RFC 7541 Appendix C and against hpack.js, an implementation
// nobody here wrote: its static table, and blocks each side encodes, decoded by the other.
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { describe, it } from 'node:test';
import hpack from 'hpack.js';
import { H2ProtocolError } from '../../core/h2/errors.js';
import { HpackDecoder, HpackEncoder, type HeaderField } from '../../core/h2/hpack.js';
import { huffmanDecode, huffmanEncode } from '../../core/h2/huffman.js';
import { STATIC_TABLE } from '../../core/h2/hpack-static-table.js';

const require_ = createRequire(import.meta.url);
const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const pairs = (fields: HeaderField[]) => fields.map((f) => [f.name, f.value]);

describe('Huffman code', () => {
  it("codes RFC 7541 C.4's strings as the RFC does", () => {
    assert.equal(huffmanEncode(Buffer.from('www.example.com')).toString('hex'), 'f1e3c2e5f23a6ba0ab90f4ff');
    assert.equal(huffmanEncode(Buffer.from('no-cache')).toString('hex'), 'a8eb10649cbf');
    assert.equal(huffmanEncode(Buffer.from('custom-value')).toString('hex'), '25a849e95bb8e8b4bf');
  });

  it('decodes every octet it encodes, and what hpack.js encodes', () => {
    const all = Buffer.from([...Array(256).keys()]);
    assert.deepEqual(huffmanDecode(huffmanEncode(all)), all);
  });

  it('refuses padding that is not ones, padding of a byte or more, and EOS', () => {
    // 'a' is 00011 (5 bits): padded with zeros instead of ones.
    assert.throws(() => huffmanDecode(Buffer.from([0b00011000])), H2ProtocolError);
    // Eight one-bits of padding after a whole symbol.
    assert.throws(() => huffmanDecode(Buffer.from([0b00011111, 0xff])), H2ProtocolError);
    // EOS: thirty one-bits.
    assert.throws(() => huffmanDecode(Buffer.from([0xff, 0xff, 0xff, 0xff])), /EOS/);
  });
});

describe('HPACK decoder', () => {
  it('decodes the three requests of RFC 7541 C.4 on one connection', () => {
    const d = new HpackDecoder();
    assert.deepEqual(pairs(d.decode(hex('8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff'))), [
      [':method', 'GET'],
      [':scheme', 'http'],
      [':path', '/'],
      [':authority', 'www.example.com'],
    ]);
    assert.deepEqual(pairs(d.decode(hex('8286 84be 5886 a8eb 1064 9cbf'))), [
      [':method', 'GET'],
      [':scheme', 'http'],
      [':path', '/'],
      [':authority', 'www.example.com'],
      ['cache-control', 'no-cache'],
    ]);
    assert.deepEqual(pairs(d.decode(hex('8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf'))), [
      [':method', 'GET'],
      [':scheme', 'https'],
      [':path', '/index.html'],
      [':authority', 'www.example.com'],
      ['custom-key', 'custom-value'],
    ]);
  });

  it('refuses indexes past the table, index 0, truncated blocks and late or oversized table updates', () => {
    const refused = (bytes: string, pattern: RegExp) =>
      assert.throws(
        () => new HpackDecoder().decode(hex(bytes)),
        (e: unknown) => e instanceof H2ProtocolError && e.code === 'COMPRESSION_ERROR' && pattern.test(e.message),
      );
    refused('be', /past the table/);
    refused('80', /index of 0/);
    refused('41 8c f1e3', /ends inside/);
    refused('82 20', /after a header field/);
    refused('3f e2 1f', /to 4097, over the 4096 advertised/);
    refused('ff ff ff ff ff 0f', /integer exceeds/);
  });

  it('refuses a header list over the limit for its stream only, and keeps its table in step', () => {
    const e = new HpackEncoder();
    const d = new HpackDecoder({ maxHeaderListSize: 200 });
    const big: HeaderField[] = [{ name: 'x-big', value: 'v'.repeat(300) }];
    assert.throws(
      () => d.decode(e.encode([{ name: 'x-kept', value: 'one' }, ...big])),
      (err: unknown) => err instanceof H2ProtocolError && err.scope === 'stream',
    );
    // The next block refers to the entry the refused one added.
    assert.deepEqual(pairs(d.decode(e.encode([{ name: 'x-kept', value: 'one' }]))), [['x-kept', 'one']]);
  });

  it('marks never-indexed fields sensitive, and the encoder never indexes credentials', () => {
    const e = new HpackEncoder();
    const d = new HpackDecoder();
    const block = e.encode([
      { name: 'authorization', value: 'Bearer abc' },
      { name: 'cookie', value: 'a=b', sensitive: true },
    ]);
    assert.deepEqual(d.decode(block), [
      { name: 'authorization', value: 'Bearer abc', sensitive: true },
      { name: 'cookie', value: 'a=b', sensitive: true },
    ]);
    // Sent again: still literal, never from the table.
    assert.equal(e.encode([{ name: 'authorization', value: 'Bearer abc' }]).length, block.length - e.encode([{ name: 'cookie', value: 'a=b', sensitive: true }]).length);
  });
});

describe('HPACK against hpack.js', () => {
  const fields: HeaderField[][] = [
    [
      { name: ':method', value: 'POST' },
      { name: ':scheme', value: 'http' },
      { name: ':path', value: '/helloworld.Greeter/SayHello' },
      { name: ':authority', value: 'greeter.default.svc:50051' },
      { name: 'content-type', value: 'application/grpc' },
      { name: 'te', value: 'trailers' },
      { name: 'user-agent', value: 'grpc-node-js/1.12.0' },
    ],
    [
      { name: ':status', value: '200' },
      { name: 'content-type', value: 'application/grpc+proto' },
      { name: 'x-latin1', value: 'caf\xe9 \x7f\xff' },
    ],
    [
      { name: 'grpc-status', value: '0' },
      { name: 'grpc-message', value: '' },
    ],
  ];

  it('has the same static table', () => {
    const theirs = (require_('hpack.js/lib/hpack/static-table.js') as { table: { name: string; value: string }[] }).table;
    assert.deepEqual(
      STATIC_TABLE.map(([n, v]) => [n, v]),
      theirs.map((t) => [t.name, t.value]),
    );
  });

  it('decodes what hpack.js encodes, block after block on one table', () => {
    const theirs = hpack.compressor.create({ table: { maxSize: 4096 } });
    const ours = new HpackDecoder();
    for (let round = 0; round < 3; round++)
      for (const list of fields) {
        theirs.write(list);
        assert.deepEqual(pairs(ours.decode(theirs.read())), pairs(list));
      }
  });

  it('encodes what hpack.js decodes, block after block on one table', () => {
    const ours = new HpackEncoder();
    const theirs = hpack.decompressor.create({ table: { maxSize: 4096 } });
    for (let round = 0; round < 3; round++)
      for (const list of fields) {
        theirs.write(ours.encode(list));
        theirs.execute();
        const got: string[][] = [];
        for (let h = theirs.read(); h; h = theirs.read()) got.push([h.name, h.value]);
        assert.deepEqual(got, pairs(list));
      }
  });
});
