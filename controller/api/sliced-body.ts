// Writes a large response body a slice at a time. Node's TLS layer keeps, for as long as a
// connection lives, an output buffer as large as the largest single write the connection was
// handed (its crypto BIO reuses buffers and never shrinks them), and writes queued behind one in
// flight are handed over together. A controller holds a long poll from every proxy it serves, and
// each one's first whole snapshot (tens of KB at a thousand services) used to pin that much native
// memory per proxy for good. Handing over at most a slice and the next only once it has left keeps
// that buffer near one slice (docs/scaling.md, "What a connected proxy costs").
import type { ServerResponse } from 'node:http';

/**
 * Well under one TLS record (16 KB) with the response head: Node sizes the buffer for a write of
 * 16 KB or more at two records' worth and more.
 */
export const SLICE_BYTES = 8 * 1024;

/** Groups `parts` into slices of at most `limit` bytes each, cutting large parts; no bytes are copied. */
export function slicesOf(parts: readonly Buffer[], limit = SLICE_BYTES): Buffer[][] {
  const slices: Buffer[][] = [];
  let current: Buffer[] = [];
  let room = limit;
  for (const part of parts) {
    for (let at = 0; at < part.length;) {
      if (room === 0) {
        slices.push(current);
        current = [];
        room = limit;
      }
      const piece = part.subarray(at, at + room);
      current.push(piece);
      room -= piece.length;
      at += piece.length;
    }
  }
  if (current.length > 0) slices.push(current);
  return slices;
}

/**
 * Writes `parts` and ends `res` (or calls `written`, for a response that goes on: a stream's
 * frame): the slices one after another, each once the one before has been written to the
 * socket. A response whose connection goes away stops where it is.
 */
export function writeSliced(res: ServerResponse, parts: readonly Buffer[], written: () => void = () => res.end()): void {
  const slices = slicesOf(parts);
  let next = 0;
  const writeNext = (err?: Error | null): void => {
    if (err || res.destroyed || res.writableEnded) return;
    if (next >= slices.length) {
      written();
      return;
    }
    const slice = slices[next++];
    for (let i = 0; i < slice.length - 1; i++) res.write(slice[i]);
    res.write(slice[slice.length - 1], writeNext);
  };
  writeNext();
}
