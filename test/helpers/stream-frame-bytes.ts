// Snapshot-stream frames as bytes, and bytes cut into pieces as a socket may hand them over: for
// the property tests of everything that reads the stream (stream-frames.ts, the benchmark's
// follower).
import { HEARTBEAT_FRAME, snapshotFrameHead, type StreamFrame } from '../../core/snapshot/stream-frames.js';

/** The frames as the controller writes them. */
export function frameBytes(frames: StreamFrame[]): Buffer {
  return Buffer.concat(frames.map((f) => (f.type === 'heartbeat' ? Buffer.from(HEARTBEAT_FRAME) : Buffer.concat([Buffer.from(snapshotFrameHead(f.version, f.delta, f.gzip, f.body.length)), f.body]))));
}

/** `bytes` cut at the given points (sorted, deduplicated, within range). */
export function pieces(bytes: Buffer, cuts: number[]): Buffer[] {
  const at = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let from = 0;
  for (const c of [...at, bytes.length]) {
    out.push(bytes.subarray(from, c));
    from = c;
  }
  return out;
}
