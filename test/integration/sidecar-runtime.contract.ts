// The contract every SidecarRuntime meets (Docker containers, VM processes): one suite, run
// against each implementation with a real controller and a real application beside the sidecar.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { fingerprint, sidecarArgs, type DiscoveredWorkload } from '../../core/agent/plan.js';
import type { SidecarRuntime } from '../../agent/runtime/runtime.js';
import { sidecarReady } from '../../agent/sidecar-ready.js';

export interface RuntimeFixture {
  runtime: SidecarRuntime;
  controllerUrl: string;
  caPem: string;
  /** A running application to put a sidecar beside, with sidecar ports free where it runs. */
  workload(instanceId: string): Promise<DiscoveredWorkload>;
  token(service: string): Promise<string>;
  close(): Promise<void>;
}

export function sidecarRuntimeContract(name: string, setup: () => Promise<RuntimeFixture>, opts: { skip?: string } = {}): void {
  describe(`SidecarRuntime contract: ${name}`, { skip: opts.skip, timeout: 180_000 }, () => {
    let f: RuntimeFixture;
    before(async () => {
      f = await setup();
    });
    after(async () => f?.close());

    const launch = async (w: DiscoveredWorkload, token?: string) => ({
      args: sidecarArgs(w, { controllerUrl: f.controllerUrl, proxyUid: 1337, trustDomain: 'cluster.local', excludeInboundPorts: [], excludeOutboundPorts: [], excludeOutboundCidrs: [] }),
      env: { MESH_PROXY_CA_PEM: f.caPem, MESH_PROXY_BOOTSTRAP_TOKEN: token ?? (await f.token(w.decl.service)) },
      fingerprint: fingerprint(w),
    });
    const ready = (w: DiscoveredWorkload) => sidecarReady(w.address, w.decl.sidecar.statusPort, 30_000);

    it('starts a sidecar that becomes ready, lists it with its fingerprint, and removes it', async () => {
      const w = await f.workload('contract-a');
      const s = await f.runtime.start(w, await launch(w));
      assert.ok(await ready(w), `the sidecar became ready; its output:\n${await f.runtime.logs(s)}`);
      const listed = (await f.runtime.list()).find((x) => x.instanceId === 'contract-a');
      assert.deepEqual(listed && { fingerprint: listed.fingerprint, running: listed.running }, { fingerprint: fingerprint(w), running: true });
      const health = await fetch(`http://${w.address}:${w.decl.sidecar.statusPort}/healthz/app`);
      assert.equal(health.status, 200, 'the sidecar reaches its application over loopback');
      await f.runtime.remove(s);
      assert.equal(
        (await f.runtime.list()).find((x) => x.instanceId === 'contract-a'),
        undefined,
      );
      await f.runtime.remove(s); // idempotent
    });

    it('reports a sidecar that exited as not running, with its output', async () => {
      const w = await f.workload('contract-b');
      const s = await f.runtime.start(w, await launch(w, 'not-a-token'));
      let listed;
      const deadline = Date.now() + 20_000;
      while (Date.now() < deadline) {
        listed = (await f.runtime.list()).find((x) => x.instanceId === 'contract-b');
        if (listed && !listed.running) break;
        await new Promise((r) => setTimeout(r, 200));
      }
      assert.equal(listed?.running, false);
      assert.match(await f.runtime.logs(s), /token/i, 'the output says the bootstrap token was refused');
      await f.runtime.remove(s);
    });
  });
}
