// The applications behind the data-path contract suite: one behaviour table, served over
// HTTP/1.1 (for the HTTP/1.1 and HTTP/2 codecs: the sidecar speaks HTTP/1.1 to it) and as a gRPC
// service over h2c (for the gRPC codec). They know nothing of the mesh: they say who they are,
// the path and the headers they saw, and fail or stall where a case needs it.
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { createServer as createH2Server, type Http2Server } from 'node:http2';

export interface Seen {
  app: string;
  path: string;
  headers: IncomingHttpHeaders;
  /** HTTP/1.1: the header lines as they came, names and all (Node's `headers` drops `__proto__`). */
  rawHeaders?: string[];
}

export interface ContractBackend {
  port: number;
  /** Every request that reached the application, in order. */
  seen: Seen[];
  close(): Promise<void>;
}

/**
 * What the application does with a path: `/…/Flaky…` fails its first call, `/…/Slow…` answers
 * after 300 ms, `/…/Stall…` sends its answer's head at once and the rest 300 ms later, `/…/Eject…`
 * always fails on v1.
 */
function behaviour(app: string, path: string, hitsOfPath: number): { fail: boolean; delayMs: number; headFirst: boolean } {
  const fail = (path.includes('/Flaky') && hitsOfPath === 1) || (path.includes('/Eject') && app.endsWith('-v1'));
  const headFirst = path.includes('/Stall');
  return { fail, delayMs: path.includes('/Slow') || headFirst ? 300 : 0, headFirst };
}

function counter(): (path: string) => number {
  const hits = new Map<string, number>();
  return (path) => {
    const n = (hits.get(path) ?? 0) + 1;
    hits.set(path, n);
    return n;
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function startHttpBackend(app: string): Promise<ContractBackend> {
  const seen: Seen[] = [];
  const hit = counter();
  const server: Server = createServer((req, res) => {
    const path = req.url ?? '/';
    seen.push({ app, path, headers: req.headers });
    const { fail, delayMs, headFirst } = behaviour(app, path, hit(path));
    req.resume();
    // `/…/Names…`: answer headers named like the properties of every JavaScript object.
    if (path.includes('/Names')) for (const name of ['constructor', '__proto__', 'toString']) res.setHeader(name, `answer-${name}`);
    req.on('end', () => {
      const head = () => res.writeHead(fail ? 503 : 200, { 'content-type': 'application/json', 'x-app': app });
      if (headFirst) head().flushHeaders();
      void sleep(delayMs).then(() => {
        if (res.destroyed) return;
        if (!headFirst) head();
        res.end(JSON.stringify({ app, path, headers: req.headers, rawHeaders: req.rawHeaders }));
      });
    });
  });
  // An upgrade is accepted (101, with what it saw in `x-seen`) unless the behaviour fails it; the tunnel then echoes.
  server.on('upgrade', (req, socket) => {
    const path = req.url ?? '/';
    seen.push({ app, path, headers: req.headers });
    socket.on('error', () => socket.destroy());
    if (behaviour(app, path, hit(path)).fail) return void socket.end('HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n');
    const said = Buffer.from(JSON.stringify({ app, path, headers: req.headers })).toString('base64');
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nupgrade: ${req.headers.upgrade}\r\nconnection: Upgrade\r\nx-app: ${app}\r\nx-seen: ${said}\r\n\r\n`);
    socket.on('data', (d: Buffer) => socket.write(d));
    socket.on('end', () => socket.end());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.address() as { port: number }).port, seen, close: () => new Promise((r) => server.close(() => r())) };
}

/** gRPC's length-prefixed message framing. */
export function grpcFrame(message: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt32BE(message.length, 1);
  return Buffer.concat([head, message]);
}

/** Any method: the reply message is the JSON of what it saw; a failure is UNAVAILABLE (14), trailers-only. */
export async function startGrpcBackend(app: string): Promise<ContractBackend> {
  const seen: Seen[] = [];
  const hit = counter();
  const server: Http2Server = createH2Server();
  server.on('stream', (stream, headers) => {
    const path = String(headers[':path']);
    const plain: IncomingHttpHeaders = {};
    for (const [k, v] of Object.entries(headers)) if (k[0] !== ':') plain[k] = v as string;
    plain.host = String(headers[':authority']);
    seen.push({ app, path, headers: plain });
    const { fail, delayMs, headFirst } = behaviour(app, path, hit(path));
    stream.on('error', () => undefined);
    stream.resume();
    const head = () => {
      stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'x-app': app }, { waitForTrailers: true });
      stream.once('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
    };
    stream.on('end', () => {
      if (headFirst && !fail) head();
      void sleep(delayMs).then(() => {
        if (stream.destroyed) return;
        if (fail) return void stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '14', 'grpc-message': 'try again' }, { endStream: true });
        if (!headFirst) head();
        stream.end(grpcFrame(Buffer.from(JSON.stringify({ app, path, headers: plain }))));
      });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.address() as { port: number }).port, seen, close: () => new Promise((r) => server.close(() => r())) };
}
