// Properties of the HTTP/2 codec's two parsers (core/h2): any header lists survive our encoder and
// decoder and hpack.js's decoder alike, through table size changes; any bytes make the decoder
// and the frame reader either answer or throw H2ProtocolError, nothing else; and frames come out
// the same however the byte stream is cut.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import hpack from 'hpack.js';
import { H2ProtocolError } from '../../core/h2/errors.js';
import { CLIENT_PREFACE, FrameReader, frameBytes, FRAME, FLAG } from '../../core/h2/frames.js';
import { HpackDecoder, HpackEncoder, type HeaderField } from '../../core/h2/hpack.js';
import { fuzzParameters } from './fuzz-options.js';

const latin1 = fc.string({ unit: fc.integer({ min: 0, max: 255 }).map((c) => String.fromCharCode(c)), maxLength: 40 });
const name = fc.oneof(fc.constantFrom(':path', ':authority', 'content-type', 'user-agent', 'authorization', 'grpc-status', 'content-length', 'x-custom'), fc.stringMatching(/^[a-z][a-z0-9-]{0,15}$/));
const field = fc.record({ name, value: latin1 });
const blocks = fc.array(fc.array(field, { maxLength: 12 }), { minLength: 1, maxLength: 8 });
const onlyProtocolErrors = (f: () => unknown) => {
  try {
    f();
  } catch (err) {
    if (!(err instanceof H2ProtocolError)) throw err;
  }
};
const pairs = (fields: HeaderField[]) => fields.map((f) => [f.name, f.value]);

describe('HPACK, any header lists', () => {
  it('decode to what was encoded, by our decoder and by hpack.js, across table size changes', () => {
    fc.assert(
      fc.property(blocks, fc.array(fc.integer({ min: 0, max: 4096 }), { maxLength: 8 }), (lists, sizes) => {
        const encoder = new HpackEncoder();
        const ours = new HpackDecoder();
        const theirs = hpack.decompressor.create({ table: { maxSize: 4096 } });
        lists.forEach((list, i) => {
          if (sizes[i] !== undefined) encoder.setMaxTableSize(sizes[i]);
          const block = encoder.encode(list);
          assert.deepEqual(pairs(ours.decode(block)), pairs(list));
          theirs.write(block);
          theirs.execute();
          const got: string[][] = [];
          for (let h = theirs.read(); h; h = theirs.read()) got.push([h.name, h.value]);
          assert.deepEqual(got, pairs(list));
        });
      }),
      fuzzParameters(),
    );
  });

  it('any bytes: fields or an H2ProtocolError, and the decoder keeps going', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 64 }), { minLength: 1, maxLength: 6 }), (chunks) => {
        const decoder = new HpackDecoder({ maxHeaderListSize: 512 });
        for (const c of chunks) onlyProtocolErrors(() => decoder.decode(c));
      }),
      fuzzParameters(2000),
    );
  });
});

describe('Frame reader', () => {
  const frame = fc.oneof(
    fc.record({ type: fc.constant(FRAME.DATA), flags: fc.constantFrom(0, FLAG.END_STREAM), stream: fc.integer({ min: 1, max: 99 }), payload: fc.uint8Array({ maxLength: 300 }) }),
    fc.record({ type: fc.constant(FRAME.HEADERS), flags: fc.constantFrom(FLAG.END_HEADERS, 0), stream: fc.integer({ min: 1, max: 99 }), payload: fc.uint8Array({ maxLength: 100 }) }),
    fc.record({ type: fc.constant(FRAME.PING), flags: fc.constantFrom(0, FLAG.ACK), stream: fc.constant(0), payload: fc.uint8Array({ minLength: 8, maxLength: 8 }) }),
    fc.record({ type: fc.constant(FRAME.WINDOW_UPDATE), flags: fc.constant(0), stream: fc.integer({ min: 0, max: 99 }), payload: fc.uint8Array({ minLength: 4, maxLength: 4 }) }),
  );

  it('gives the same frames however the stream is cut', () => {
    fc.assert(
      fc.property(fc.array(frame, { maxLength: 10 }), fc.array(fc.integer({ min: 1, max: 50 }), { minLength: 1, maxLength: 20 }), (frames, cuts) => {
        const bytes = Buffer.concat([CLIENT_PREFACE, ...frames.map((f) => frameBytes(f.type, f.flags, f.stream, f.payload))]);
        const reader = new FrameReader(true);
        const got = [];
        let off = 0;
        for (let i = 0; off < bytes.length; i++) {
          const n = cuts[i % cuts.length];
          got.push(...reader.push(bytes.subarray(off, off + n)));
          off += n;
        }
        assert.deepEqual(
          got.map((f) => [f.type, f.flags, f.stream, Buffer.from(f.payload).toString('hex')]),
          frames.map((f) => [f.type, f.flags, f.stream, Buffer.from(f.payload).toString('hex')]),
        );
      }),
      fuzzParameters(),
    );
  });

  it('any bytes after the preface: frames or an H2ProtocolError', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 200 }), { minLength: 1, maxLength: 5 }), (chunks) => {
        const reader = new FrameReader(false);
        onlyProtocolErrors(() => {
          for (const c of chunks) reader.push(Buffer.from(c));
        });
      }),
      fuzzParameters(2000),
    );
  });

  it('refuses a connection that does not begin with the preface, and frames over the advertised size', () => {
    assert.throws(() => new FrameReader(true).push(Buffer.from('GET / HTTP/1.1\r\n')), /client preface/);
    assert.throws(
      () => new FrameReader(false).push(frameBytes(FRAME.DATA, 0, 1, Buffer.alloc(16_385))),
      (e: unknown) => e instanceof H2ProtocolError && e.code === 'FRAME_SIZE_ERROR',
    );
    assert.throws(() => new FrameReader(false).push(frameBytes(FRAME.DATA, FLAG.PADDED, 1, Buffer.from([5, 1, 2]))), /padding/);
  });
});
