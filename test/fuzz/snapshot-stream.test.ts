// The snapshot stream's frames (core/snapshot/stream-frames.ts): whatever pieces the bytes
// arrive in, the proxy reads exactly the frames the controller wrote; bytes that are not frames
// are refused with PARSE_ERROR naming what is wrong, never read as a frame and never buffered
// without bound; the controller reads the proxy's acknowledgements likewise.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { MeshError } from '../../core/errors.js';
import { AckDecoder, FrameDecoder, MAX_FRAME_BYTES, ackLine, type StreamFrame } from '../../core/snapshot/stream-frames.js';
import { fuzzParameters } from './fuzz-options.js';
import { frameBytes, pieces } from '../helpers/stream-frame-bytes.js';

const versionArb = fc.stringMatching(/^[0-9a-f]{16}$/);
const frameArb: fc.Arbitrary<StreamFrame> = fc.oneof(
  fc.constant<StreamFrame>({ type: 'heartbeat' }),
  fc.record({
    type: fc.constant('snapshot' as const),
    version: versionArb,
    delta: fc.boolean(),
    gzip: fc.boolean(),
    // Bodies full of the bytes a head is made of: newlines and the words.
    body: fc
      .oneof(
        fc.uint8Array({ maxLength: 600 }),
        fc.constantFrom('heartbeat\n', 'snapshot 1 full gzip 3\n', '\n\n').map((s) => new TextEncoder().encode(s)),
      )
      .map((a) => Buffer.from(a)),
  }),
);

const parseError = (err: unknown) => err instanceof MeshError && err.code === 'PARSE_ERROR';

describe('snapshot stream frames', () => {
  it('reads back exactly the frames written, however the bytes are cut', () => {
    fc.assert(
      fc.property(fc.array(frameArb, { maxLength: 12 }), fc.array(fc.nat(), { maxLength: 20 }), (frames, cuts) => {
        const decoder = new FrameDecoder();
        const read = pieces(frameBytes(frames), cuts).flatMap((p) => decoder.push(p));
        // (fast-check's records have no prototype; compared as plain objects)
        assert.deepEqual(
          read,
          frames.map((f) => ({ ...f })),
        );
        assert.ok(decoder.atBoundary, 'the stream ends between frames');
      }),
      fuzzParameters(),
    );
  });

  it('knows a stream cut inside a frame', () => {
    fc.assert(
      fc.property(
        fc.array(frameArb, { minLength: 1, maxLength: 6 }).filter((fs) => fs.some((f) => f.type === 'snapshot')),
        fc.nat(),
        (frames, cut) => {
          const bytes = frameBytes(frames);
          const decoder = new FrameDecoder();
          const read = decoder.push(bytes.subarray(0, cut % bytes.length));
          assert.ok(read.length < frames.length);
          // Cut exactly after a frame, the reader is at a boundary; anywhere else, it is not.
          assert.equal(decoder.atBoundary, frameBytes(frames.slice(0, read.length)).length === cut % bytes.length);
        },
      ),
      fuzzParameters(),
    );
  });

  it('refuses bytes that are not frames with PARSE_ERROR, and never buffers a head without bound', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 2000 }), (garbage) => {
        const decoder = new FrameDecoder();
        try {
          for (const f of decoder.push(Buffer.from(garbage))) assert.ok(f.type === 'heartbeat' || f.body.length <= MAX_FRAME_BYTES);
        } catch (err) {
          assert.ok(parseError(err), `not a PARSE_ERROR: ${String(err)}`);
          return;
        }
        // Not refused: it is still waiting for a line's end (never more than a head's worth) or a body.
        assert.ok(!garbage.includes(0x0a) ? garbage.length <= 256 : true);
      }),
      fuzzParameters(),
    );
    const refused = (text: string, why: RegExp) =>
      assert.throws(
        () => new FrameDecoder().push(Buffer.from(text)),
        (err: unknown) => parseError(err) && why.test((err as Error).message),
      );
    refused('snapshot abc full gzip 99999999999\n', /length/);
    refused(`snapshot abc full gzip ${MAX_FRAME_BYTES + 1}\n`, /length/);
    refused('snapshot abc full gzip -1\n', /length/);
    refused('snapshot abc partial gzip 1\n', /"full" or "delta"/);
    refused('snapshot abc full br 1\n', /"gzip" or "identity"/);
    refused('snapshot a/b full gzip 1\n', /not a version/);
    refused('snapshot abc full gzip 1 extra\n', /5 fields/);
    refused('HTTP/1.1 200 OK\r\n', /"snapshot" or "heartbeat"/);
    refused('x'.repeat(257), /longer than 256/);
    refused(`${'x'.repeat(300)}\n`, /longer than 256/);
  });

  it('reads acknowledgements in any pieces and refuses anything else', () => {
    fc.assert(
      fc.property(fc.array(versionArb, { maxLength: 10 }), fc.array(fc.nat(), { maxLength: 10 }), (versions, cuts) => {
        const decoder = new AckDecoder();
        assert.deepEqual(
          pieces(Buffer.from(versions.map(ackLine).join('')), cuts).flatMap((p) => decoder.push(p)),
          versions,
        );
      }),
      fuzzParameters(),
    );
    for (const bad of ['nack 1234\n', 'ack\n', 'ack a b\n', 'ack a/b\n', `ack ${'1'.repeat(65)}\n`, `${'a'.repeat(300)}`])
      assert.throws(() => new AckDecoder().push(Buffer.from(bad)), parseError, bad);
  });
});
