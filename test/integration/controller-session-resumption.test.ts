// TLS sessions at the controllers' API: a sidecar that moves to another controller, or comes back
// to a restarted one, resumes its session (the controllers derive the same ticket keys from the
// CA) instead of a full handshake at both ends; a resumed session whose certificate has expired
// since it began proves no identity. Real controllers, real TLS on real sockets.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { request } from 'node:https';
import type { TLSSocket } from 'node:tls';
import { after, describe, it } from 'node:test';
import { ControllerClient } from '../../proxy/controller-client.js';
import { startController, type TestController } from '../helpers/controller.js';
import { freePort } from '../helpers/ports.js';
import { workloadCsr } from '../helpers/workload.js';

const handshakes = async (c: TestController, resumed: boolean): Promise<number> => {
  const text = (await c.call('GET', '/metrics', undefined, null)).text;
  return Number(new RegExp(`^mesh_controller_tls_handshakes_total\\{resumed="${resumed}"\\} (\\d+)$`, 'm').exec(text)?.[1] ?? 0);
};

/** A workload certificate for `web` from the controller's CA, valid for `ttlMs`. */
function credentials(c: TestController, ttlMs?: number): { cert: string; key: string } {
  const { key, csr } = workloadCsr();
  const cert = c.controller.ca.issue(csr, { trustDomain: 'cluster.local', namespace: 'default', service: 'web' }, ttlMs);
  return { cert, key: key.privateKeyPem };
}

/** One request on a new connection, offering `session`; the status, whether it resumed, and the session it was given. */
function once(c: TestController, creds: { cert: string; key: string }, session?: Buffer): Promise<{ status: number; resumed: boolean; session: Buffer | undefined }> {
  return new Promise((resolve, reject) => {
    let given: Buffer | undefined;
    const req = request(`${c.url}/v1/services`, { ca: c.ca(), ...creds, agent: false, session } as object, (res) => {
      const socket = res.socket as TLSSocket;
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, resumed: socket.isSessionReused(), session: given }));
    });
    req.on('socket', (s) => s.on('session', (x: Buffer) => (given = x)));
    req.on('error', reject);
    req.end();
  });
}

describe('TLS session resumption at the controllers', () => {
  const running: TestController[] = [];
  after(async () => {
    for (const c of running) await c.close().catch(() => undefined);
  });

  it('a sidecar moving to another controller, or back to a restarted one, resumes its session', async () => {
    const [portA, portB] = [await freePort(), await freePort()];
    const a = await startController({ listen: `127.0.0.1:${portA}` });
    running.push(a);
    const creds = credentials(a);
    const client = new ControllerClient(`${a.url},https://127.0.0.1:${portB}`, a.ca(), creds);
    try {
      assert.equal((await client.request('GET', '/v1/services')).status, 200);
      assert.equal(await handshakes(a, false), 2, 'the client and the metrics call: full handshakes');
      await a.close();
      // Another controller of the same mesh (the same CA, here the same data directory), at another address.
      const b = await startController({ dataDir: a.dataDir, listen: `127.0.0.1:${portB}` });
      running.push(b);
      assert.equal((await client.request('GET', '/v1/services')).status, 200, 'failed over to the second controller');
      assert.equal(client.activeController, b.url);
      assert.equal(await handshakes(b, true), 1, 'the client resumed at the other controller');
      await b.close();
      // The first one again, restarted on its port.
      const a2 = await startController({ dataDir: a.dataDir, listen: `127.0.0.1:${portA}` });
      running.push(a2);
      assert.equal((await client.request('GET', '/v1/services')).status, 200);
      assert.equal(await handshakes(a2, true), 1, 'and at the restarted one');
      // A renewed certificate starts over: its first connection is a full handshake.
      client.setCredentials(credentials(a2));
      assert.equal((await client.request('GET', '/v1/services')).status, 200);
      assert.equal(await handshakes(a2, true), 1);
    } finally {
      client.close();
    }
  });

  it('a resumed session whose certificate has expired since proves no identity', async () => {
    const c = await startController();
    running.push(c);
    const shortLived = credentials(c, 2500);
    const first = await once(c, shortLived);
    assert.equal(first.status, 200);
    assert.ok(first.session, 'the controller gave a session');
    // Still valid: the session resumes and the identity holds.
    const again = await once(c, shortLived, first.session);
    assert.deepEqual([again.status, again.resumed], [200, true]);
    const validTo = Date.parse(new X509Certificate(shortLived.cert).validTo);
    await new Promise((r) => setTimeout(r, Math.max(0, validTo - Date.now()) + 1100));
    const expired = await once(c, shortLived, first.session);
    assert.equal(expired.resumed, true, 'the session itself still resumes');
    assert.equal(expired.status, 401, 'but the expired certificate it carries is no identity');
  });
});
