// Gzip for snapshot responses. A snapshot is written as parts (see CompiledSnapshot.jsonParts)
// whose large middle part is shared by many proxies; concatenated gzip members form one valid
// gzip stream, so that part is compressed once and the same bytes go to every proxy. This keeps
// a 500-proxy push from holding 500 uncompressed copies in socket buffers.
import * as zlib from 'node:zlib';
import { gzipSync } from 'node:zlib';

/** zlib.crc32 came in Node 20.15; a named import would fail to load on earlier 20.x. */
const crc32 = (zlib as { crc32?: (data: Buffer) => number }).crc32;

const MAX_CACHED = 64;

/**
 * Who a piece of a response belongs to: `shared` by a group of proxies or all of them (an
 * outbound config, a delta made once for a group, the trust bundle), compressed once and its bytes
 * reused; this `proxy`'s and stable across its versions (identity and inbound policy), compressed
 * when it changes; or this response's `own` (a few dozen bytes: the version), sent stored.
 */
export type PieceKind = 'shared' | 'proxy' | 'own';

/** A proxy's compressed stable piece, kept with the proxy's state. */
export interface ProxyPieceCache {
  text?: string;
  gz?: Buffer;
}

/** A zlib call costs tens of microseconds before it compresses anything, which mattered at thousands of proxies per change. */
export class GzipParts {
  private readonly cache = new Map<string, Buffer>();

  encode(parts: readonly string[], kind: (index: number) => PieceKind, proxyCache: ProxyPieceCache): Buffer[] {
    return parts.map((part, i) => {
      const k = kind(i);
      if (k === 'shared') return this.shared(part);
      if (k === 'own') return stored(part);
      if (proxyCache.text !== part || !proxyCache.gz) {
        proxyCache.text = part;
        proxyCache.gz = ownBytes(gzipSync(part, { level: 6 }));
      }
      return proxyCache.gz;
    });
  }

  private shared(part: string): Buffer {
    let gz = this.cache.get(part);
    if (!gz) {
      gz = ownBytes(gzipSync(part, { level: 6 }));
      if (this.cache.size >= MAX_CACHED) this.cache.delete(this.cache.keys().next().value!);
      this.cache.set(part, gz);
    }
    return gz;
  }
}

/**
 * zlib hands back its output as a view of a 16 KB chunk, and a kept view keeps the whole chunk:
 * each proxy's cached piece (a few hundred bytes) held 16 KB, 32 MB at 2,000 proxies. A piece that
 * is kept is copied into a buffer of its own size.
 */
export function ownBytes(view: Buffer): Buffer {
  if (view.byteLength === view.buffer.byteLength) return view;
  const own = Buffer.allocUnsafeSlow(view.byteLength);
  view.copy(own);
  return own;
}

/**
 * A gzip member holding `text` uncompressed (deflate stored blocks, RFC 1951 3.2.4): no zlib call
 * for the few bytes that differ in every response. zlib.crc32 is in Node 20.15 and later; before
 * it, the text is compressed.
 */
function stored(text: string): Buffer {
  const data = Buffer.from(text, 'utf8');
  if (typeof crc32 !== 'function' || data.length > 0xffff) return gzipSync(data, { level: 1 });
  const out = Buffer.allocUnsafe(10 + 5 + data.length + 8);
  out.set([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff], 0);
  out[10] = 1; // the final block, stored
  out.writeUInt16LE(data.length, 11);
  out.writeUInt16LE(~data.length & 0xffff, 13);
  data.copy(out, 15);
  out.writeUInt32LE(crc32(data) >>> 0, 15 + data.length);
  out.writeUInt32LE(data.length, 19 + data.length);
  return out;
}

export function acceptsGzip(header: string | undefined): boolean {
  return Boolean(header && /\bgzip\b/.test(header));
}
