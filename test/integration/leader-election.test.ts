// Work that must run once in the mesh runs at one leader, elected through a Consul session:
// of two real mesh-controller processes exactly one leads; when it is killed (no goodbye, its
// session expires) the other takes over; and the leader renews the CA root when it is due.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CertificateAuthority } from '../../controller/ca/authority.js';
import { FileKvStore } from '../../controller/kv/file-kv.js';
import { startConsul, type ConsulAgent } from '../helpers/consul.js';
import { apiCall } from '../helpers/controller.js';
import { freePort, waitFor } from '../helpers/ports.js';

const root = new URL('../../../', import.meta.url).pathname;

interface Proc {
  child: ChildProcess;
  url: string;
  dir: string;
  leader(): Promise<boolean | undefined>;
}

describe('leader election through Consul', () => {
  let consul: ConsulAgent;
  const procs: Proc[] = [];

  async function controller(): Promise<Proc> {
    const dir = mkdtempSync(join(tmpdir(), 'mesh-leader-'));
    const port = await freePort();
    const child = spawn(process.execPath, [join(root, 'dist/controller/main.js'), '--data-dir', dir, '--listen', `127.0.0.1:${port}`, '--consul', consul.address, '--log-level', 'warn'], {
      stdio: 'ignore',
    });
    const url = `https://127.0.0.1:${port}`;
    const p: Proc = {
      child,
      url,
      dir,
      leader: async () => {
        try {
          const r = await apiCall(url, readFileSync(join(dir, 'ca.pem'), 'utf8'), 'GET', '/v1/status', undefined, { token: readFileSync(join(dir, 'admin-token'), 'utf8').trim() });
          return r.status === 200 ? (r.json().leader as boolean) : undefined;
        } catch {
          return undefined;
        }
      },
    };
    procs.push(p);
    await waitFor('the controller to answer', async () => (await p.leader()) !== undefined, 20_000, 200);
    return p;
  }

  before(async () => {
    consul = await startConsul();
  });

  after(async () => {
    for (const p of procs) p.child.kill('SIGKILL');
    await consul?.stop();
  });

  it('elects exactly one of two controllers, and the other takes over when the leader is killed', async () => {
    const [a, b] = [await controller(), await controller()];
    await waitFor('one leader', async () => [await a.leader(), await b.leader()].filter(Boolean).length === 1, 15_000, 200);
    const [leader, other] = (await a.leader()) ? [a, b] : [b, a];
    // Stays one for a while: no flapping.
    for (let i = 0; i < 5; i++) {
      assert.deepEqual([await leader.leader(), await other.leader()], [true, false]);
      await new Promise((r) => setTimeout(r, 300));
    }
    leader.child.kill('SIGKILL');
    const killed = Date.now();
    await waitFor('the other to lead', async () => (await other.leader()) === true, 45_000, 250);
    process.stdout.write(`# the surviving controller led ${((Date.now() - killed) / 1000).toFixed(1)} s after the leader was killed\n`);
  });

  it("the leader's job: a root with less than a third of its life left gets its successor, and both stay trusted", async () => {
    const kv = new FileKvStore(join(mkdtempSync(join(tmpdir(), 'mesh-ca-')), 'state.json'));
    await kv.start();
    const ca = new CertificateAuthority(kv, { trustDomain: 'cluster.local', leafTtlMs: 60_000, rootLifetimeMs: 30 * 60_000 });
    await ca.start();
    assert.equal(await ca.renewRootIfDue(new Date(Date.now() + 10 * 60_000)), false, 'two thirds left');
    assert.equal(ca.trustBundle().length, 1);
    assert.equal(await ca.renewRootIfDue(new Date(Date.now() + 21 * 60_000)), true, 'less than a third left');
    assert.equal(ca.trustBundle().length, 2, 'the old root stays trusted until it expires');
    assert.equal(await ca.renewRootIfDue(new Date(Date.now() + 60_000)), false, 'the new root, made now, has most of its life');
    await ca.close();
    await kv.close();
  });
});
