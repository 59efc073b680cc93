// The sidecar's HTTPS client for the controllers (one or several, common/controller-list.ts):
// bootstrap (token) and then mTLS with its own workload certificate. Bodies are gzip-decoded; errors become MeshError with the server's code.
import type { ClientRequest, IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { Agent, request, type RequestOptions as HttpsRequestOptions } from 'node:https';
import type { ConnectionOptions } from 'node:tls';
import { gunzipSync } from 'node:zlib';
import { MeshError, type ErrorCode } from '../core/errors.js';
import { ControllerList, isFailover, parseControllers } from '../common/controller-list.js';
import { FrameDecoder, STREAM_CONTENT_TYPE, ackLine, type StreamFrame } from '../core/snapshot/stream-frames.js';

export interface ClientCredentials {
  cert?: string;
  key?: string;
  token?: string;
}

export interface ControllerResponse {
  status: number;
  body: string;
}

export interface RequestOptions {
  token?: string;
  /** Silence on the connection longer than this fails the request over (15 s by default). */
  timeoutMs?: number;
  /** The silence allowed once the controller has sent a heartbeat (a long poll with heartbeat=). */
  heartbeatTimeoutMs?: number;
}

export interface StreamOptions {
  /** Silence before the stream's head arrives longer than this fails it over (15 s by default). */
  timeoutMs?: number;
  /** Silence on an open stream longer than this (no frame, no heartbeat) means the controller is gone. */
  heartbeatTimeoutMs: number;
}

/** An open snapshot stream (controller/api/snapshot-stream.ts). */
export interface ControllerStream {
  /** The frames as they come; ends when the controller ends the stream, throws when it breaks. */
  frames(): AsyncGenerator<StreamFrame>;
  /** Tells the controller this version is applied. */
  ack(version: string): void;
  close(): void;
}

export class ControllerClient {
  private agent: Agent;
  /**
   * The newest TLS session any controller gave, offered to whichever controller is next: they
   * share ticket keys, so moving to another one (or back to a restarted one) resumes it, half
   * the CPU of a full handshake at both ends, which counts when thousands of proxies move at once.
   */
  private session: Buffer | undefined;
  private readonly hooked = new WeakSet<Socket>();
  private readonly controllers: ControllerList;
  /** Controllers that said they heartbeat held watches. */
  private readonly heartbeating = new Set<string>();

  /** `controllers`: one URL, or several (comma-separated): requests fail over between them. */
  constructor(
    controllers: string,
    private ca: string,
    private creds: ClientCredentials = {},
  ) {
    const urls = parseControllers(controllers);
    if (typeof urls === 'string') throw new MeshError('INVALID_ARGUMENT', `--controller: ${urls}`);
    this.controllers = new ControllerList(urls);
    this.agent = this.makeAgent();
  }

  /** The controller requests go to now. */
  get activeController(): string {
    return this.controllers.active;
  }

  /** New credentials (a renewed certificate) apply to new connections; open ones finish. */
  setCredentials(creds: ClientCredentials, ca?: string): void {
    this.creds = creds;
    if (ca) this.ca = ca;
    this.session = undefined; // it proves the certificate it began with
    const old = this.agent;
    this.agent = this.makeAgent();
    setTimeout(() => old.destroy(), 65_000).unref();
  }

  request(method: string, path: string, body?: object, opts: RequestOptions = {}): Promise<ControllerResponse> {
    return this.controllers.run((baseUrl) => this.requestTo(baseUrl, method, path, body, opts));
  }

  /**
   * Opens a stream (POST, its body the acknowledgements) at the controller requests go to, or the
   * next that answers. Resolves once its head is in; a controller that refuses it says why
   * (an older one without streams: NOT_FOUND).
   */
  openStream(path: string, opts: StreamOptions): Promise<ControllerStream> {
    return this.controllers.run((baseUrl) => this.openStreamAt(baseUrl, path, opts));
  }

  private openStreamAt(baseUrl: string, path: string, opts: StreamOptions): Promise<ControllerStream> {
    const headers: Record<string, string> = { 'accept-encoding': 'gzip', 'content-type': 'text/plain' };
    if (this.creds.token) headers.authorization = `Bearer ${this.creds.token}`;
    return new Promise((resolve, reject) => {
      const req = request(baseUrl + path, this.options({ method: 'POST', headers, timeout: opts.timeoutMs ?? 15_000 }), (res) => {
        if (res.statusCode !== 200 || res.headers['content-type'] !== STREAM_CONTENT_TYPE) {
          req.end();
          return void collect(res).then(
            (raw) => reject(answerError(res, raw)),
            (err: unknown) => reject(err instanceof MeshError ? err : new MeshError('UNAVAILABLE', `the stream from ${baseUrl} broke: ${String(err)}`, { cause: err })),
          );
        }
        // From now on, the controller is alive while frames or heartbeats come.
        req.setTimeout(opts.heartbeatTimeoutMs);
        resolve({
          frames: () =>
            readFrames(
              res,
              baseUrl,
              () => req.end(),
              (err) => {
                // Broken (reset, or silent past the heartbeats): the next stream goes to the next controller.
                if (isFailover(err)) this.controllers.moveOn(baseUrl);
              },
            ),
          ack: (version) => {
            if (!req.writableEnded && !req.destroyed) req.write(ackLine(version));
          },
          close: () => req.destroy(),
        });
      });
      this.keepSessions(req);
      req.on('timeout', () => req.destroy(new MeshError('TIMEOUT', `the controller at ${baseUrl} went silent on ${path.split('?')[0]}`)));
      req.on('error', (err) => reject(err instanceof MeshError ? err : new MeshError('UNAVAILABLE', `cannot reach the controller at ${baseUrl}: ${err.message}`, { cause: err })));
      // The head goes now; the body (acknowledgements) stays open for the stream's life.
      req.flushHeaders();
    });
  }

  private requestTo(baseUrl: string, method: string, path: string, body: object | undefined, opts: RequestOptions): Promise<ControllerResponse> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const headers: Record<string, string> = { 'accept-encoding': 'gzip' };
    const token = opts.token ?? this.creds.token;
    if (token) headers.authorization = `Bearer ${token}`;
    if (payload) headers['content-type'] = 'application/json';
    return new Promise((resolve, reject) => {
      const req = request(baseUrl + path, this.options({ method, headers, timeout: opts.timeoutMs ?? 15_000 }), (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const raw = Buffer.concat(chunks);
          const text = (res.headers['content-encoding'] === 'gzip' ? gunzipSync(raw) : raw).toString('utf8');
          const status = res.statusCode ?? 0;
          // Each answer to a watch that asked says afresh (a controller may be replaced by an older one).
          if (opts.heartbeatTimeoutMs && res.headers['x-mesh-heartbeat']) this.heartbeating.add(baseUrl);
          else if (opts.heartbeatTimeoutMs) this.heartbeating.delete(baseUrl);
          if (status >= 400) return reject(errorOf(status, text));
          resolve({ status, body: text });
        });
      });
      // A controller that heartbeats held watches (102 Processing; it says so in x-mesh-heartbeat)
      // is alive while they come: silence longer than heartbeatTimeoutMs means its host is gone,
      // and the next controller takes the request.
      if (opts.heartbeatTimeoutMs) {
        if (this.heartbeating.has(baseUrl)) req.setTimeout(opts.heartbeatTimeoutMs);
        req.on('information', () => req.setTimeout(opts.heartbeatTimeoutMs!));
      }
      this.keepSessions(req);
      req.on('timeout', () => req.destroy(new MeshError('TIMEOUT', `the controller at ${baseUrl} did not answer ${path} in time`)));
      req.on('error', (err) => reject(err instanceof MeshError ? err : new MeshError('UNAVAILABLE', `cannot reach the controller at ${baseUrl}: ${err.message}`, { cause: err })));
      req.end(payload);
    });
  }

  close(): void {
    this.agent.destroy();
  }

  /** A request's options: this client's agent, and the session to offer if it makes a new connection (tls.connect's `session`, passed on by the agent). */
  private options(o: HttpsRequestOptions): HttpsRequestOptions {
    // Only when there is one: an undefined `session` would hide the agent's own cached one.
    const withSession: HttpsRequestOptions & Pick<ConnectionOptions, 'session'> = { ...o, agent: this.agent, ...(this.session ? { session: this.session } : {}) };
    return withSession;
  }

  /** Keeps the sessions the request's connection is given (each connection is watched once). */
  private keepSessions(req: ClientRequest): void {
    req.once('socket', (socket) => {
      if (this.hooked.has(socket)) return;
      this.hooked.add(socket);
      const agent = this.agent;
      // A session made with credentials since replaced is not kept.
      socket.on('session', (session: Buffer) => {
        if (agent === this.agent) this.session = session;
      });
    });
  }

  private makeAgent(): Agent {
    return new Agent({ keepAlive: true, maxSockets: 4, ca: this.ca, cert: this.creds.cert, key: this.creds.key });
  }
}

/** A controller's error answer as a MeshError with its code. */
function errorOf(status: number, text: string): MeshError {
  // A proxy or load balancer in front that has no controller to give: the next one may.
  let code: ErrorCode = status === 502 || status === 503 || status === 504 ? 'UNAVAILABLE' : 'INTERNAL';
  let message = `controller answered HTTP ${status}`;
  try {
    const e = JSON.parse(text) as { code: ErrorCode; message: string };
    code = e.code;
    message = e.message;
  } catch {
    // not our JSON error
  }
  return new MeshError(code, message, { details: { status } });
}

/** An answer that is not a stream: its error, or (a 200 of something else) a controller that does not stream. */
function answerError(res: IncomingMessage, raw: Buffer): MeshError {
  const status = res.statusCode ?? 0;
  if (status >= 400) return errorOf(status, (res.headers['content-encoding'] === 'gzip' ? gunzipSync(raw) : raw).toString('utf8'));
  return new MeshError('NOT_FOUND', `the controller answered HTTP ${status} (${String(res.headers['content-type'])}), not a snapshot stream`, { details: { status } });
}

async function collect(res: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of res) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** The stream's frames until the controller ends it (then `ended`); a stream cut inside a frame, or not made of frames, throws. */
async function* readFrames(res: IncomingMessage, baseUrl: string, ended: () => void, broke: (err: MeshError) => void): AsyncGenerator<StreamFrame> {
  const decoder = new FrameDecoder();
  try {
    for await (const chunk of res) yield* decoder.push(chunk as Buffer);
    if (!decoder.atBoundary) throw new MeshError('UNAVAILABLE', `the snapshot stream from ${baseUrl} ended inside a frame`);
  } catch (err) {
    const e = err instanceof MeshError ? err : new MeshError('UNAVAILABLE', `the snapshot stream from ${baseUrl} broke: ${(err as Error).message}`, { cause: err });
    broke(e);
    throw e;
  }
  ended();
}
