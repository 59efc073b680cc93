// Runs a real controller (real TLS socket, real stores) in the test process, and a small HTTPS
// client for its API.
import { mkdtempSync, readFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { Controller } from '../../controller/controller.js';
import { resolveControllerOptions, type RawControllerOptions } from '../../controller/options.js';

export interface ApiResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json<T = any>(): T;
}

/** A controller a test talks to over its API, in this process or its own (controller-process.ts). */
export interface ControllerHandle {
  url: string;
  dataDir: string;
  adminToken: string;
  ca(): string;
  /** Calls the API; `auth` defaults to the admin token; pass `{ cert, key }` for mTLS, or null for none. */
  call(method: string, path: string, body?: string | object, auth?: { token?: string; cert?: string; key?: string } | null): Promise<ApiResponse>;
  close(): Promise<void>;
}

/** A controller in the test's process: its object too, for what the API does not show. */
export interface TestController extends ControllerHandle {
  controller: Controller;
}

export async function startController(raw: RawControllerOptions = {}): Promise<TestController> {
  const dataDir = raw.dataDir ?? mkdtempSync(join(tmpdir(), 'mesh-ctl-'));
  const options = resolveControllerOptions({ listen: '127.0.0.1:0', ...raw, dataDir });
  const controller = new Controller(options, pino({ level: process.env.MESH_TEST_LOG ?? 'silent' }));
  await controller.start();
  const url = `https://127.0.0.1:${controller.address.port}`;
  const ca = () => readFileSync(join(dataDir, 'ca.pem'), 'utf8');
  const adminToken = controller.credentials.adminToken;
  return {
    controller,
    url,
    dataDir,
    adminToken,
    ca,
    call: (method, path, body, auth = { token: adminToken }) => apiCall(url, ca(), method, path, body, auth),
    close: () => controller.close(),
  };
}

export function apiCall(url: string, ca: string, method: string, path: string, body?: string | object, auth?: { token?: string; cert?: string; key?: string } | null): Promise<ApiResponse> {
  const payload = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
  const headers: Record<string, string> = {};
  if (auth?.token) headers.authorization = `Bearer ${auth.token}`;
  if (payload !== undefined) headers['content-type'] = typeof body === 'string' ? 'application/yaml' : 'application/json';
  return new Promise((resolve, reject) => {
    const req = request(url + path, { method, headers, ca, cert: auth?.cert, key: auth?.key, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json: () => JSON.parse(text) });
      });
    });
    req.on('error', reject);
    req.end(payload);
  });
}
