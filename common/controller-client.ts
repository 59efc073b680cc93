// The connection of meshctl and the host agent to the controller: address, CA bundle and token
// come from flags, MESH_* environment variables, or the controller's data directory on this host.
// (The sidecar's own client, proxy/controller-client.ts, talks mTLS with its workload certificate.)
import { existsSync, readFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { MeshError, type ErrorCode, type Violation } from '../core/errors.js';
import { ControllerList, parseControllers } from './controller-list.js';

export interface ClientOptions {
  controller?: string;
  token?: string;
  caFile?: string;
  /** The bundle itself (fetched and pinned by fingerprint, common/ca-pinning.ts); wins over caFile. */
  caPem?: string;
  dataDir?: string;
  /** Silence on a request longer than this hands it to the next controller (90 s: meshctl waits out big applies). */
  timeoutMs?: number;
}

export interface Response {
  status: number;
  text: string;
  json<T = unknown>(): T;
}

/** Where systemd/install.sh puts the controller's data (mesh-controller.service's MESH_DATA_DIR). */
export const SYSTEMD_DATA_DIR = '/var/lib/mesh/controller';

/** `.mesh` (a controller started by hand here), else the systemd install's, so meshctl needs no flag on the controller's VM. */
function defaultDataDir(): string {
  return !existsSync('.mesh') && existsSync(SYSTEMD_DATA_DIR) ? SYSTEMD_DATA_DIR : '.mesh';
}

export class ControllerClient {
  private readonly controllers: ControllerList;
  /** Every controller this client knows (the agent hands them on to its sidecars). */
  get controllerUrls(): readonly string[] {
    return this.controllers.urls;
  }
  /** The controller requests go to now. */
  get baseUrl(): string {
    return this.controllers.active;
  }
  private readonly ca: string | undefined;
  /** The CA bundle trusted for the controller, handed on to the sidecars the agent starts. */
  get caPem(): string | undefined {
    return this.ca;
  }
  /** The bearer token sent, if any (meshctl dashboard hands it to the browser). */
  readonly token: string | undefined;
  private readonly timeoutMs: number;

  constructor(opts: ClientOptions) {
    // An empty variable counts as unset, as shells and compose files often leave them.
    const env = (name: string) => process.env[name] || undefined;
    const dataDir = opts.dataDir ?? env('MESH_DATA_DIR') ?? defaultDataDir();
    const fromDir = (name: string) => {
      const p = join(dataDir, name);
      return existsSync(p) ? readFileSync(p, 'utf8').trim() : undefined;
    };
    const urls = parseControllers(opts.controller ?? env('MESH_CONTROLLER') ?? fromDir('controller-address') ?? 'https://127.0.0.1:15012');
    if (typeof urls === 'string') throw new MeshError('INVALID_ARGUMENT', `--controller: ${urls}`);
    this.controllers = new ControllerList(urls);
    const caFile = opts.caFile ?? env('MESH_CA_FILE');
    this.ca = opts.caPem ?? (caFile ? readFileSync(caFile, 'utf8') : fromDir('ca.pem'));
    // A directory shared with host agents holds an agent token instead of the admin token.
    this.token = opts.token ?? env('MESH_TOKEN') ?? fromDir('admin-token') ?? fromDir('agent-token');
    this.timeoutMs = opts.timeoutMs ?? 90_000;
  }

  /** One request; with several controllers, the next one takes it when one cannot be reached or is draining. */
  async call(method: string, path: string, body?: string | object, headers: Record<string, string> = {}): Promise<Response> {
    return this.controllers.run((baseUrl) => this.callOne(baseUrl, method, path, body, headers));
  }

  /** Which controller answers now (`/healthz`, within `timeoutMs`), failing over as a request does; rejects when none does. */
  async probe(timeoutMs: number): Promise<string> {
    return this.controllers.run(async (baseUrl) => {
      await this.callOne(baseUrl, 'GET', '/healthz', undefined, {}, timeoutMs);
      return baseUrl;
    });
  }

  private async callOne(baseUrl: string, method: string, path: string, body: string | object | undefined, headers: Record<string, string>, timeoutMs = this.timeoutMs): Promise<Response> {
    const url = new URL(baseUrl + path);
    const payload = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
    const h: Record<string, string> = { ...headers };
    if (this.token && !h.authorization) h.authorization = `Bearer ${this.token}`;
    if (payload !== undefined) {
      h['content-type'] ??= typeof body === 'string' ? 'application/yaml' : 'application/json';
      h['content-length'] = String(Buffer.byteLength(payload));
    }
    const res = await new Promise<Response>((resolve, reject) => {
      const req = request(url, { method, headers: h, ca: this.ca, timeout: timeoutMs }, (r) => {
        const chunks: Buffer[] = [];
        r.on('data', (c: Buffer) => chunks.push(c));
        r.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          resolve({ status: r.statusCode ?? 0, text, json: <T>() => JSON.parse(text) as T });
        });
      });
      req.on('timeout', () => req.destroy(new MeshError('TIMEOUT', `the controller at ${baseUrl} did not answer in time`)));
      req.on('error', (err: NodeJS.ErrnoException) => reject(connectionError(baseUrl, err, Boolean(this.ca))));
      req.end(payload);
    });
    if (res.status >= 400) throw errorFromResponse(res);
    return res;
  }
}

function connectionError(base: string, err: NodeJS.ErrnoException, haveCa: boolean): MeshError {
  if (err instanceof MeshError) return err;
  if (err.code === 'ECONNREFUSED')
    return new MeshError('UNAVAILABLE', `cannot reach the controller at ${base}: nothing listens there. Is mesh-controller running? Set --controller or MESH_CONTROLLER if it runs elsewhere.`, {
      cause: err,
    });
  if (err.code === 'SELF_SIGNED_CERT_IN_CHAIN' || err.code === 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' || err.code === 'DEPTH_ZERO_SELF_SIGNED_CERT') {
    return new MeshError(
      'UNAVAILABLE',
      `the controller at ${base} presented a certificate this meshctl does not trust${haveCa ? '' : ' (no CA bundle found)'}; pass --ca-file or MESH_CA_FILE, or --data-dir of the controller`,
      { cause: err },
    );
  }
  return new MeshError('UNAVAILABLE', `cannot reach the controller at ${base}: ${err.message}`, { cause: err });
}

function errorFromResponse(res: Response): MeshError {
  try {
    const body = res.json<{ code: ErrorCode; message: string; violations?: Violation[] }>();
    return new MeshError(body.code ?? 'INTERNAL', body.message ?? `HTTP ${res.status}`, { violations: body.violations ?? [], details: { status: res.status } });
  } catch {
    return new MeshError('INTERNAL', `the controller answered HTTP ${res.status}: ${res.text.slice(0, 200)}`);
  }
}
