// Sends an upstream response to the downstream client. A small body with a known length is
// collected first and written together with the headers: one write (one syscall) instead of
// one for the headers and one per body chunk, which is most of a proxy's cost per request.
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';

const COALESCE_LIMIT = 64 * 1024;

export function relayResponse(up: IncomingMessage, res: ServerResponse, headers: OutgoingHttpHeaders, done: (bytes: number) => void): void {
  const status = up.statusCode ?? 502;
  const length = Number(up.headers['content-length'] ?? NaN);
  up.on('error', () => res.destroy());
  if (Number.isFinite(length) && length <= COALESCE_LIMIT) {
    const chunks: Buffer[] = [];
    up.on('data', (c: Buffer) => chunks.push(c));
    up.on('end', () => {
      const body = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
      res.writeHead(status, headers);
      res.end(body);
      done(body.length);
    });
    return;
  }
  res.writeHead(status, headers);
  let bytes = 0;
  up.on('data', (c: Buffer) => (bytes += c.length));
  up.pipe(res);
  up.on('end', () => done(bytes));
}
