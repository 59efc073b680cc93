// The propagation benchmark's stream follower (bench/stream-follower.ts) reads the controller's
// answers itself instead of through Node's HTTP client: whatever pieces a chunked answer arrives
// in, it reads exactly the frames in it and sees its end, and it refuses an answer that is not a
// 200 with a chunked body of whole frames instead of miscounting what the proxies hold.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { StreamAnswerReader } from '../../bench/stream-follower.js';
import type { StreamFrame } from '../../core/snapshot/stream-frames.js';
import { fuzzParameters } from './fuzz-options.js';
import { frameBytes, pieces } from '../helpers/stream-frame-bytes.js';

const frameArb: fc.Arbitrary<StreamFrame> = fc.oneof(
  fc.constant<StreamFrame>({ type: 'heartbeat' }),
  fc.record({
    type: fc.constant('snapshot' as const),
    version: fc.stringMatching(/^[0-9a-f]{16}$/),
    delta: fc.boolean(),
    gzip: fc.boolean(),
    // Bodies full of what chunk framing is made of.
    body: fc
      .oneof(
        fc.uint8Array({ maxLength: 400 }),
        fc.constantFrom('\r\n', '0\r\n\r\n', 'a\r\n').map((s) => new TextEncoder().encode(s)),
      )
      .map((a) => Buffer.from(a)),
  }),
);

const HEAD =
  'HTTP/1.1 200 OK\r\ncontent-type: application/vnd.mesh.snapshot-stream\r\ncache-control: no-store\r\ndate: Fri, 04 Dec 2026 19:00:00 GMT\r\nconnection: keep-alive\r\nkeep-alive: timeout=5\r\ntransfer-encoding: chunked\r\n\r\n';

/** The answer as Node writes it: the head, the frames in chunks cut at `chunkCuts` (any size, upper- or lower-case hex), the last chunk. */
function answer(frames: StreamFrame[], chunkCuts: number[], upper: boolean): Buffer {
  const chunks = pieces(frameBytes(frames), chunkCuts).filter((c) => c.length > 0);
  const size = (n: number) => (upper ? n.toString(16).toUpperCase() : n.toString(16));
  return Buffer.concat([Buffer.from(HEAD), ...chunks.flatMap((c) => [Buffer.from(`${size(c.length)}\r\n`), c, Buffer.from('\r\n')]), Buffer.from('0\r\n\r\n')]);
}

function readAll(received: Buffer[]): { frames: StreamFrame[]; doneAt: number } {
  const reader = new StreamAnswerReader();
  const frames: StreamFrame[] = [];
  let doneAt = -1;
  received.forEach((p, i) => {
    const read = reader.push(p);
    frames.push(...read.frames);
    if (read.done && doneAt < 0) doneAt = i;
  });
  return { frames, doneAt };
}

describe('the benchmark stream follower reads answers as the controller writes them', () => {
  it('reads exactly the frames written, in whatever chunks and pieces, and ends with the last chunk', () => {
    fc.assert(
      fc.property(fc.array(frameArb, { maxLength: 8 }), fc.array(fc.nat(), { maxLength: 6 }), fc.array(fc.nat(), { maxLength: 12 }), fc.boolean(), (frames, chunkCuts, socketCuts, upper) => {
        const received = pieces(answer(frames, chunkCuts, upper), socketCuts);
        const read = readAll(received);
        // (fast-check's records have no prototype; compared as plain objects)
        assert.deepEqual(
          read.frames,
          frames.map((f) => ({ ...f })),
        );
        // Done with the piece that holds the end, not before (later pieces are empty).
        assert.ok(read.doneAt >= 0);
        assert.ok(received.slice(read.doneAt + 1).every((p) => p.length === 0));
      }),
      fuzzParameters(),
    );
  });

  it('refuses what is not a whole answer of frames: another status, no chunked body, a broken chunk, a frame cut off', () => {
    const frames: StreamFrame[] = [{ type: 'snapshot', version: '0123456789abcdef', delta: false, gzip: true, body: Buffer.from('abc') }];
    const good = answer(frames, [], false).toString('latin1');
    const bad: [string, RegExp][] = [
      [good.replace('200 OK', '503 Service Unavailable'), /stream refused: 503/],
      [good.replace('transfer-encoding: chunked', 'content-length: 41'), /not chunked/],
      [good.replace(/\r\n\r\n([0-9a-f]+)\r\n/, '\r\n\r\n$1x\r\n'), /bad chunk size line/],
      [good.replace('abc\r\n', 'abcd\r\n'), /chunk longer than its size/],
      [good.replace(/\r\n\r\n([0-9a-f]+)\r\n(.*)abc\r\n/s, (_, size: string, head: string) => `\r\n\r\n${(parseInt(size, 16) - 1).toString(16)}\r\n${head}ab\r\n`), /inside a frame/],
      [`${good}x`, /after the end/],
    ];
    for (const [text, why] of bad) assert.throws(() => readAll([Buffer.from(text, 'latin1')]), why, JSON.stringify(text));
  });
});
