// Test applications that know nothing of the mesh: they answer with who they are and what
// they saw.
import { createServer, request, type Server } from 'node:http';

export interface TestApp {
  server: Server;
  port: number;
  hits: number;
  close(): Promise<void>;
}

/** `behaviour` gets the path and how many times this path was asked for (1 the first time). */
export async function startApp(name: string, behaviour: (path: string, hitsOfPath: number) => number = () => 200): Promise<TestApp> {
  const perPath = new Map<string, number>();
  const app: TestApp = { server: createServer(), port: 0, hits: 0, close: () => new Promise((r) => app.server.close(() => r())) };
  app.server.on('request', async (req, res) => {
    app.hits++;
    const n = (perPath.get(req.url ?? '/') ?? 0) + 1;
    perPath.set(req.url ?? '/', n);
    const status = behaviour(req.url ?? '/', n);
    // `/slow...` answers after 300 ms, for tests of concurrency limits and timeouts.
    if ((req.url ?? '').startsWith('/slow')) await new Promise((r) => setTimeout(r, 300));
    const body = JSON.stringify({
      app: name,
      path: req.url,
      method: req.method,
      xfcc: req.headers['x-forwarded-client-cert'] ?? null,
      host: req.headers.host,
      requestId: req.headers['x-request-id'] ?? null,
      headers: req.headers,
    });
    res.writeHead(status, { 'content-type': 'application/json', 'x-app': name });
    res.end(body);
  });
  // An upgrade (WebSocket handshake) is accepted and the connection then echoes what it gets.
  app.server.on('upgrade', (req, socket) => {
    app.hits++;
    socket.write(
      `HTTP/1.1 101 Switching Protocols\r\nupgrade: ${req.headers.upgrade}\r\nconnection: Upgrade\r\nx-app: ${name}\r\nx-caller: ${req.headers['x-forwarded-client-cert'] ?? 'none'}\r\n\r\n`,
    );
    socket.on('data', (d: Buffer) => socket.write(d));
    socket.on('end', () => socket.end()); // the caller hung up: so do we
    socket.on('error', () => socket.destroy());
  });
  await new Promise<void>((r) => app.server.listen(0, '127.0.0.1', r));
  app.port = (app.server.address() as { port: number }).port;
  return app;
}

export interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  json<T = any>(): T;
}

export function get(port: number, path: string, headers: Record<string, string> = {}, method = 'GET', body?: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method, headers: { host: headers.host ?? 'reviews', ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text, json: () => JSON.parse(text) });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}
