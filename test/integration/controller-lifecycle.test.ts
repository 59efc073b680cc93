// The controller's start / drain / close, as a real process and in process: SIGTERM answers the
// sidecars' open watches at once (they go to another controller rather than wait out a minute),
// lets a request in flight finish, refuses new connections, and exits; a start that fails
// releases the port it had bound.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { request } from 'node:https';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { Controller } from '../../controller/controller.js';
import { resolveControllerOptions } from '../../controller/options.js';
import { startApp } from '../helpers/apps.js';
import { startController } from '../helpers/controller.js';
import { freePort, waitFor } from '../helpers/ports.js';
import { startSidecar } from '../helpers/sidecar.js';

const root = new URL('../../../', import.meta.url).pathname;

describe('controller lifecycle', () => {
  it('on SIGTERM lets an apply in flight finish, refuses new connections, and exits', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'mesh-ctl-life-'));
    const port = await freePort();
    const child = spawn(process.execPath, [join(root, 'dist/controller/main.js'), '--data-dir', dataDir, '--listen', `127.0.0.1:${port}`, '--drain-timeout', '10s'], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let log = '';
    child.stderr.on('data', (d: Buffer) => (log += d));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      await waitFor('the controller to start', () => /controller started/.test(log), 15_000);
      const ca = readFileSync(join(dataDir, 'ca.pem'), 'utf8');
      const token = readFileSync(join(dataDir, 'admin-token'), 'utf8').trim();
      // An apply whose body is still arriving when SIGTERM comes.
      const body = JSON.stringify({
        apiVersion: 'networking.istio.io/v1',
        kind: 'VirtualService',
        metadata: { name: 'late', namespace: 'default' },
        spec: { hosts: ['late'], http: [{ route: [{ destination: { host: 'late' } }] }] },
      });
      const answer = new Promise<number>((resolve, reject) => {
        const req = request(
          `https://127.0.0.1:${port}/v1/apply`,
          { method: 'POST', ca, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
          (res) => {
            res.resume();
            res.on('end', () => resolve(res.statusCode ?? 0));
          },
        );
        req.on('error', reject);
        req.write(body.slice(0, 20));
        setTimeout(() => req.end(body.slice(20)), 700);
      });
      await new Promise((r) => setTimeout(r, 200));
      child.kill('SIGTERM');
      const attempt = () =>
        new Promise<string>((resolve) => {
          const s = connect(port, '127.0.0.1');
          s.on('connect', () => {
            s.destroy();
            resolve('connected');
          });
          s.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
        });
      await waitFor('new connections to be refused', async () => (await attempt()) === 'ECONNREFUSED', 1500);
      assert.equal(await answer, 200, 'the apply in flight was answered and taken');
      assert.equal(await exited, 0);
      assert.match(log, /"msg":"draining"/);
      assert.match(readFileSync(join(dataDir, 'state.json'), 'utf8'), /late/, 'what was applied while draining is kept');
    } finally {
      child.kill('SIGKILL');
    }
  });

  it("answers a sidecar's open watch at once when it drains, rather than holding it until the watch times out", async () => {
    const c = await startController();
    const app = await startApp('api');
    const sidecar = await startSidecar(c, 'api', app.port);
    try {
      await waitFor('the sidecar to hold a watch', () => c.controller.hub.list().some((p) => p.ref.id === 'api-1'), 5000);
      await new Promise((r) => setTimeout(r, 300)); // the watch is open and waiting now
      const started = Date.now();
      await c.controller.drain(30_000);
      assert.ok(Date.now() - started < 5000, `drained in ${Date.now() - started} ms with a watch open (the watch holds up to 60 s)`);
    } finally {
      await sidecar.close();
      await app.close();
      await c.close();
    }
  });

  it('releases its port when start() fails after it began to listen', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'mesh-ctl-fail-'));
    const port = await freePort();
    // The address file is written after the API listens; a directory in its place fails the start there.
    mkdirSync(join(dataDir, 'controller-address', 'occupied'), { recursive: true });
    const controller = new Controller(resolveControllerOptions({ dataDir, listen: `127.0.0.1:${port}` }), pino({ level: 'silent' }));
    await assert.rejects(controller.start(), /controller-address/);
    await controller.close();
    const probe = createServer();
    await new Promise<void>((resolve, reject) => {
      probe.once('error', reject);
      probe.listen(port, '127.0.0.1', () => resolve());
    });
    await new Promise((r) => probe.close(r));
  });
});
