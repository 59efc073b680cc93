// A small router: method + path pattern + who may call it. Authentication is decided before the
// handler runs; handlers return a body (JSON) or throw MeshError.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { MeshError, asMeshError } from '../../core/errors.js';
import { peerUris } from '../../common/peer-uris.js';
import { HTTP_STATUS } from './http-errors.js';
import { SLICE_BYTES, writeSliced } from './sliced-body.js';

export type Principal =
  | { kind: 'anonymous' }
  | { kind: 'admin' }
  | { kind: 'agent'; host: string }
  | { kind: 'workload'; /** The SPIFFE `sa/` segment: the service account (the service name unless one was given). */ service: string; namespace: string; identity: string };

/**
 * `public`: anyone; `admin`: the admin token; `agent`: admin, or a host agent's token (mints
 * bootstrap tokens); `workload`: admin or a workload certificate; `catalog`: admin, an agent, or
 * a workload (each workload for its own service only).
 */
export type Access = 'public' | 'admin' | 'agent' | 'workload' | 'catalog';

const ALLOWED: Record<Exclude<Access, 'public'>, Principal['kind'][]> = {
  admin: ['admin'],
  agent: ['admin', 'agent'],
  workload: ['admin', 'workload'],
  catalog: ['admin', 'agent', 'workload'],
};

const NEEDS: Record<Exclude<Access, 'public'>, string> = {
  admin: 'the admin token (Authorization: Bearer <token>; meshctl reads it from the data directory or MESH_TOKEN)',
  agent: 'the admin token or a host agent token',
  workload: 'the admin token or a workload certificate',
  catalog: 'the admin token, a host agent token or a workload certificate',
};

export interface RequestContext {
  req: IncomingMessage;
  res: ServerResponse;
  params: string[];
  query: URLSearchParams;
  principal: Principal;
  /** The request body, at most the configured limit (else 413). */
  body(): Promise<Buffer>;
  json(): Promise<unknown>;
  signal: AbortSignal;
}

export interface Reply {
  status?: number;
  body?: unknown;
  /** Raw body (already serialised JSON or YAML, possibly gzip members), written piece by piece. */
  raw?: string | (string | Buffer)[];
  contentType?: string;
  headers?: Record<string, string>;
  /** The handler writes the response itself, for as long as it lasts (the snapshot stream). */
  taken?: true;
}

export type Handler = (ctx: RequestContext) => Promise<Reply> | Reply;

interface Route {
  method: string;
  pattern: RegExp;
  access: Access;
  handler: Handler;
}

export interface Authenticator {
  authenticate(req: IncomingMessage): Principal;
}

export class Router {
  private readonly routes: Route[] = [];

  constructor(
    private readonly auth: Authenticator,
    private readonly bodyLimit: number,
    private readonly onError: (err: MeshError, req: IncomingMessage) => void,
  ) {}

  add(method: string, path: string, access: Access, handler: Handler): this {
    // `:name` segments capture one path segment each.
    const pattern = new RegExp(`^${path.replace(/:[a-zA-Z]+/g, '([^/]+)')}$`);
    this.routes.push({ method, pattern, access, handler });
    return this;
  }

  handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    // The signal that the client went away, made only for handlers that ask (the watch): an
    // AbortController per request, and a DOMException per close, cost 10,000 proxies' worth of
    // CPU on every push. A response that finished is not aborted.
    let abort: AbortController | undefined;
    res.once('close', () => {
      if (!res.writableFinished) abort?.abort();
    });
    const signal = (): AbortSignal => {
      if (abort) return abort.signal;
      abort = new AbortController();
      if (res.closed && !res.writableFinished) abort.abort();
      return abort.signal;
    };
    try {
      const url = new URL(req.url ?? '/', 'https://controller');
      const matches = this.routes.filter((r) => r.pattern.test(url.pathname));
      if (matches.length === 0) throw new MeshError('NOT_FOUND', `no API at ${url.pathname}; see docs/openapi.yaml`);
      const route = matches.find((r) => r.method === req.method);
      if (!route) {
        res.setHeader('allow', matches.map((r) => r.method).join(', '));
        throw new MeshError('METHOD_NOT_ALLOWED', `${req.method} is not allowed on ${url.pathname}; use ${matches.map((r) => r.method).join(' or ')}`);
      }
      const principal = this.auth.authenticate(req);
      authorize(route.access, principal);
      const params = (route.pattern.exec(url.pathname) ?? []).slice(1).map(decodeURIComponent);
      let bodyPromise: Promise<Buffer> | undefined;
      const body = () => (bodyPromise ??= readBody(req, this.bodyLimit));
      const ctx: RequestContext = {
        req,
        res,
        params,
        query: url.searchParams,
        principal,
        body,
        json: async () => parseJson(await body()),
        get signal() {
          return signal();
        },
      };
      const reply = await route.handler(ctx);
      if (!reply.taken) send(res, reply.status ?? 200, reply);
    } catch (err) {
      const e = asMeshError(err);
      if (e.code === 'INTERNAL') this.onError(e, req);
      // A body we refused to read: the answer says the connection closes, and it closes
      // gracefully (lingering), so the client reads the 413 rather than a reset.
      if (e.code === 'PAYLOAD_TOO_LARGE' && !res.headersSent) {
        res.setHeader('connection', 'close');
        // Node ends a `Connection: close` answer with destroySoon(), which destroys the socket
        // once the answer is flushed: with the body still arriving, that is a reset.
        const socket = req.socket;
        socket.destroySoon = () => lingeringClose(socket);
      }
      if (!res.headersSent) send(res, HTTP_STATUS[e.code], { body: e.toJSON() });
    }
  };
}

function authorize(access: Access, p: Principal): void {
  if (access === 'public' || ALLOWED[access].includes(p.kind)) return;
  if (p.kind === 'anonymous') throw new MeshError('UNAUTHENTICATED', `this API needs ${NEEDS[access]}`);
  const who = p.kind === 'workload' ? `workload ${p.identity}` : p.kind === 'agent' ? `the host agent token of ${p.host}` : p.kind;
  throw new MeshError('PERMISSION_DENIED', `${who} may not call this API; it needs ${NEEDS[access]}`);
}

function send(res: ServerResponse, status: number, reply: Reply): void {
  const parts = Array.isArray(reply.raw) ? reply.raw : [reply.raw ?? (reply.body === undefined ? '' : JSON.stringify(reply.body))];
  const length = parts.reduce((n, p) => n + (typeof p === 'string' ? Buffer.byteLength(p) : p.length), 0);
  res.statusCode = status;
  for (const [k, v] of Object.entries(reply.headers ?? {})) res.setHeader(k, v);
  if (length > 0) res.setHeader('content-type', reply.contentType ?? 'application/json');
  res.setHeader('content-length', length);
  if (length > SLICE_BYTES)
    return writeSliced(
      res,
      parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : p)),
    );
  for (const p of parts.slice(0, -1)) res.write(p);
  res.end(parts[parts.length - 1]);
}

async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) throw tooLarge(limit);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) throw tooLarge(limit);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

function tooLarge(limit: number): MeshError {
  return new MeshError('PAYLOAD_TOO_LARGE', `the request body is larger than the limit of ${limit} bytes; split it into several requests`);
}

function parseJson(b: Buffer): unknown {
  try {
    return JSON.parse(b.toString('utf8'));
  } catch (err) {
    throw new MeshError('PARSE_ERROR', `the request body is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
}

export function peerCertificateUris(req: IncomingMessage): string[] {
  const socket = req.socket as TLSSocket;
  return socket.authorized && !expiredSinceSessionBegan(socket) ? peerUris(socket) : [];
}

/**
 * A resumed TLS session carries the certificate its first handshake verified, and that one
 * may have expired since (sessions resume for a day): then the connection proves no identity.
 */
function expiredSinceSessionBegan(socket: TLSSocket): boolean {
  if (!socket.isSessionReused()) return false;
  const validTo = socket.getPeerX509Certificate?.()?.validTo;
  return validTo === undefined || !(Date.parse(validTo) > Date.now());
}

/**
 * TLS 1.2 lets a client renegotiate mid-connection, with another certificate, and each
 * renegotiation costs the server a handshake: neither is needed by any client of ours (and a
 * connection's certificate is read once, `peerUris`). An attempt is a socket error, on which the
 * HTTP server closes the connection.
 */
export function refuseRenegotiation(socket: TLSSocket): void {
  socket.disableRenegotiation();
}

/**
 * Closes a connection whose request body was not read, as nginx's lingering close does: our
 * side ends (FIN) and what the client still sends is read and dropped for a short while, since
 * closing with unread bytes makes the kernel send a reset that can destroy the answer in flight.
 */
function lingeringClose(socket: Socket, maxMs = 2000, maxBytes = 8 * 1024 * 1024): void {
  let read = 0;
  const timer = setTimeout(() => socket.destroy(), maxMs);
  timer.unref();
  socket.on('data', (c: Buffer) => {
    read += c.length;
    if (read > maxBytes) socket.destroy();
  });
  socket.once('close', () => clearTimeout(timer));
  socket.once('end', () => socket.destroy());
  socket.end();
  socket.resume();
}
