// The sidecar's HTTPS client for the controller: bootstrap (token) and then mTLS with its own
// workload certificate. Bodies are gzip-decoded; errors become MeshError with the server's code.
import { Agent, request } from 'node:https';
import { gunzipSync } from 'node:zlib';
import { MeshError, type ErrorCode } from '../core/errors.js';

export interface ClientCredentials {
  cert?: string;
  key?: string;
  token?: string;
}

export interface ControllerResponse {
  status: number;
  body: string;
}

export class ControllerClient {
  private agent: Agent;

  constructor(
    private readonly baseUrl: string,
    private ca: string,
    private creds: ClientCredentials = {},
  ) {
    this.agent = this.makeAgent();
  }

  /** New credentials (a renewed certificate) apply to new connections; open ones finish. */
  setCredentials(creds: ClientCredentials, ca?: string): void {
    this.creds = creds;
    if (ca) this.ca = ca;
    const old = this.agent;
    this.agent = this.makeAgent();
    setTimeout(() => old.destroy(), 65_000).unref();
  }

  request(method: string, path: string, body?: object, opts: { token?: string; timeoutMs?: number } = {}): Promise<ControllerResponse> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const headers: Record<string, string> = { 'accept-encoding': 'gzip' };
    const token = opts.token ?? this.creds.token;
    if (token) headers.authorization = `Bearer ${token}`;
    if (payload) headers['content-type'] = 'application/json';
    return new Promise((resolve, reject) => {
      const req = request(this.baseUrl + path, { method, headers, agent: this.agent, timeout: opts.timeoutMs ?? 15_000 }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const raw = Buffer.concat(chunks);
          const text = (res.headers['content-encoding'] === 'gzip' ? gunzipSync(raw) : raw).toString('utf8');
          const status = res.statusCode ?? 0;
          if (status >= 400) {
            let code: ErrorCode = 'INTERNAL';
            let message = `controller answered HTTP ${status}`;
            try {
              const e = JSON.parse(text) as { code: ErrorCode; message: string };
              code = e.code;
              message = e.message;
            } catch {
              // not our JSON error
            }
            return reject(new MeshError(code, message, { details: { status } }));
          }
          resolve({ status, body: text });
        });
      });
      req.on('timeout', () => req.destroy(new MeshError('TIMEOUT', `the controller did not answer ${path} in time`)));
      req.on('error', (err) => reject(err instanceof MeshError ? err : new MeshError('UNAVAILABLE', `cannot reach the controller at ${this.baseUrl}: ${err.message}`, { cause: err })));
      req.end(payload);
    });
  }

  close(): void {
    this.agent.destroy();
  }

  private makeAgent(): Agent {
    return new Agent({ keepAlive: true, maxSockets: 4, ca: this.ca, cert: this.creds.cert, key: this.creds.key });
  }
}
