// Gzip for snapshot responses. A snapshot is written as parts (see CompiledSnapshot.jsonParts)
// whose large middle part is shared by many proxies; concatenated gzip members form one valid
// gzip stream, so that part is compressed once and the same bytes go to every proxy. This keeps
// a 500-proxy push from holding 500 uncompressed copies in socket buffers.
import { gzipSync } from 'node:zlib';

const MIN_SHARED_BYTES = 4096;
const MAX_CACHED = 64;

export class GzipParts {
  private readonly cache = new Map<string, Buffer>();

  encode(parts: string[]): Buffer[] {
    return parts.map((p) => (p.length >= MIN_SHARED_BYTES ? this.shared(p) : gzipSync(p, { level: 1 })));
  }

  private shared(part: string): Buffer {
    let gz = this.cache.get(part);
    if (!gz) {
      gz = gzipSync(part, { level: 6 });
      if (this.cache.size >= MAX_CACHED) this.cache.delete(this.cache.keys().next().value!);
      this.cache.set(part, gz);
    }
    return gz;
  }
}

export function acceptsGzip(header: string | undefined): boolean {
  return Boolean(header && /\bgzip\b/.test(header));
}
