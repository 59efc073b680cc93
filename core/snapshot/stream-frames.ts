// The snapshot stream (POST /v1/snapshots/stream, docs/snapshot.md): one long response per proxy
// carrying each new snapshot as a frame, as an xDS stream does, instead of a request per change.
// The controller's frames: a head line, then the body it announces:
//   snapshot <version> <full|delta> <gzip|identity> <length>\n<length bytes>
//   heartbeat\n
// The proxy's acknowledgements, in the request body: `ack <version>\n`.
// Pure: no I/O; both sides parse what the other sends as hostile.
import { MeshError } from '../errors.js';

export type StreamFrame = { type: 'snapshot'; version: string; delta: boolean; gzip: boolean; body: Buffer } | { type: 'heartbeat' };

export const STREAM_CONTENT_TYPE = 'application/vnd.mesh.snapshot-stream';
export const HEARTBEAT_FRAME = 'heartbeat\n';
/** A snapshot version: what the compiler makes (16 hex digits), with room to spare. */
const VERSION = /^[A-Za-z0-9._-]{1,64}$/;
/** No head or acknowledgement is longer; a longer line is not ours. */
const MAX_LINE = 256;
/** A whole snapshot of the largest mesh we size for is a few MB; this is far beyond it. */
export const MAX_FRAME_BYTES = 64 * 1024 * 1024;

export function snapshotFrameHead(version: string, delta: boolean, gzip: boolean, length: number): string {
  return `snapshot ${version} ${delta ? 'delta' : 'full'} ${gzip ? 'gzip' : 'identity'} ${length}\n`;
}

export function ackLine(version: string): string {
  return `ack ${version}\n`;
}

/** Splits bytes into `\n`-ended lines, and hands over raw bytes when asked (a frame's body). */
class LineReader {
  private buffered: Buffer[] = [];
  private size = 0;

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.buffered.push(chunk);
    this.size += chunk.length;
  }

  get length(): number {
    return this.size;
  }

  /** The next line without its `\n`, or undefined until it is complete. Throws when longer than `MAX_LINE`. */
  line(what: string): string | undefined {
    let seen = 0;
    for (const b of this.buffered) {
      const nl = b.indexOf(0x0a);
      if (nl >= 0 && seen + nl <= MAX_LINE) return this.take(seen + nl + 1).toString('latin1', 0, seen + nl);
      seen += nl >= 0 ? nl : b.length;
      if (nl >= 0 || seen > MAX_LINE) break;
    }
    if (seen > MAX_LINE) throw new MeshError('PARSE_ERROR', `${what}: a line longer than ${MAX_LINE} bytes without an end`);
    return undefined;
  }

  take(n: number): Buffer {
    const out = this.buffered.length === 1 && this.buffered[0].length === n ? this.buffered[0] : Buffer.concat(this.buffered, this.size);
    const taken = out.subarray(0, n);
    const rest = out.subarray(n);
    this.buffered = rest.length > 0 ? [rest] : [];
    this.size = rest.length;
    return taken;
  }
}

/** Reads the controller's frames from the bytes of the stream, in whatever pieces they arrive. */
export class FrameDecoder {
  private readonly reader = new LineReader();
  private head: { version: string; delta: boolean; gzip: boolean; length: number } | undefined;

  /** The frames completed by `chunk`. Throws PARSE_ERROR, naming what is wrong, on bytes that are not frames; the stream is then unusable. */
  push(chunk: Buffer): StreamFrame[] {
    this.reader.push(chunk);
    const frames: StreamFrame[] = [];
    for (;;) {
      if (!this.head) {
        const line = this.reader.line('snapshot stream');
        if (line === undefined) return frames;
        if (line === 'heartbeat') {
          frames.push({ type: 'heartbeat' });
          continue;
        }
        this.head = parseHead(line);
      }
      if (this.reader.length < this.head.length) return frames;
      const { version, delta, gzip, length } = this.head;
      this.head = undefined;
      frames.push({ type: 'snapshot', version, delta, gzip, body: Buffer.from(this.reader.take(length)) });
    }
  }

  /** Whether the bytes so far end between frames (a stream that ends elsewhere was cut off). */
  get atBoundary(): boolean {
    return !this.head && this.reader.length === 0;
  }
}

function parseHead(line: string): { version: string; delta: boolean; gzip: boolean; length: number } {
  const [word, version, kind, encoding, length, ...extra] = line.split(' ');
  const bad = (why: string) => new MeshError('PARSE_ERROR', `snapshot stream: ${why} in the frame head ${JSON.stringify(line.slice(0, 80))}`);
  if (word !== 'snapshot') throw bad('not "snapshot" or "heartbeat"');
  if (extra.length > 0 || length === undefined) throw bad('not 5 fields');
  if (!VERSION.test(version)) throw bad('not a version');
  if (kind !== 'full' && kind !== 'delta') throw bad('not "full" or "delta"');
  if (encoding !== 'gzip' && encoding !== 'identity') throw bad('not "gzip" or "identity"');
  if (!/^(0|[1-9][0-9]{0,9})$/.test(length) || Number(length) > MAX_FRAME_BYTES) throw bad(`a length that is not 0..${MAX_FRAME_BYTES}`);
  return { version, delta: kind === 'delta', gzip: encoding === 'gzip', length: Number(length) };
}

/** Reads the proxy's acknowledgements (`ack <version>` lines) from the request body. */
export class AckDecoder {
  private readonly reader = new LineReader();

  /** The versions acknowledged by `chunk`, in order. Throws PARSE_ERROR on anything else. */
  push(chunk: Buffer): string[] {
    this.reader.push(chunk);
    const versions: string[] = [];
    for (let line = this.reader.line('acknowledgements'); line !== undefined; line = this.reader.line('acknowledgements')) {
      const m = /^ack ([^ ]+)$/.exec(line);
      if (!m || !VERSION.test(m[1])) throw new MeshError('PARSE_ERROR', `acknowledgements: ${JSON.stringify(line.slice(0, 80))} is not "ack <version>"`);
      versions.push(m[1]);
    }
    return versions;
  }
}
