// The SidecarRuntime contract against each implementation that runs here: VM processes, and
// Docker containers (a real engine). The systemd runtime runs under a real systemd in
// vm-quickstart.test.ts, which follows docs/vm-quickstart.md.
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Docker from 'dockerode';
import { declarationFromServiceFile } from '../../core/agent/workload.js';
import type { DiscoveredWorkload } from '../../core/agent/plan.js';
import { DockerSidecarRuntime } from '../../agent/runtime/docker-runtime.js';
import { ProcessSidecarRuntime } from '../../agent/runtime/process-runtime.js';
import { startController } from '../helpers/controller.js';
import { buildImages, ensureDocker, run } from '../helpers/docker.js';
import { freePort } from '../helpers/ports.js';
import { sidecarRuntimeContract } from '../integration/sidecar-runtime.contract.js';

const notRoot = process.getuid?.() !== 0 ? 'sidecars run as UID 1337, which needs root' : undefined;

function declaration(service: string, port: number, sidecar?: { inboundPort: number; outboundPort: number; adminPort: number; statusPort: number }) {
  const r = declarationFromServiceFile({ name: service, port, ...(sidecar ? { sidecar } : {}) });
  if (!r.ok) throw new Error(JSON.stringify(r.violations));
  return r.value;
}

sidecarRuntimeContract(
  'processes (VM mode)',
  async () => {
    const ctl = await startController();
    const stateDir = mkdtempSync(join(tmpdir(), 'mesh-rt-'));
    chmodSync(stateDir, 0o755);
    const apps: Server[] = [];
    const runtime = new ProcessSidecarRuntime({ stateDir, proxyUid: 1337, stopTimeoutMs: 3000 });
    return {
      runtime,
      controllerUrl: ctl.url,
      caPem: ctl.ca(),
      token: async (service) => (await ctl.call('POST', '/v1/tokens', { service })).json<{ token: string }>().token,
      workload: async (instanceId): Promise<DiscoveredWorkload> => {
        const app = createServer((_q, r) => r.end('app')).listen(0, '127.0.0.1');
        await new Promise((r) => app.once('listening', r));
        apps.push(app);
        const port = (app.address() as { port: number }).port;
        const sidecar = { inboundPort: await freePort(), outboundPort: await freePort(), adminPort: await freePort(), statusPort: await freePort() };
        return { instanceId, decl: declaration('contract', port, sidecar), address: '127.0.0.1', appRef: instanceId };
      },
      close: async () => {
        for (const s of await runtime.list()) await runtime.remove(s);
        for (const a of apps) a.close();
        await ctl.close();
        rmSync(stateDir, { recursive: true, force: true });
      },
    };
  },
  { skip: notRoot },
);

const dockerSkip = notRoot ?? (await ensureDocker());

sidecarRuntimeContract(
  'Docker containers',
  async () => {
    await buildImages();
    const tag = randomBytes(3).toString('hex');
    const network = `meshrt-${tag}`;
    const containers: string[] = [];
    await run(['docker', 'network', 'create', network]);
    const ctl = (
      await run([
        'docker',
        'run',
        '-d',
        '--network',
        network,
        '--network-alias',
        'controller',
        'hostmesh/mesh:latest',
        'mesh-controller',
        '--data-dir',
        '/var/lib/mesh',
        '--listen',
        '0.0.0.0:15012',
        '--api-name',
        'controller',
        '--log-level',
        'warn',
      ])
    ).trim();
    containers.push(ctl);
    let caPem = '';
    for (let i = 0; i < 100 && !caPem; i++) {
      caPem = await run(['docker', 'exec', ctl, 'cat', '/var/lib/mesh/ca.pem'], { allowFailure: true }).then((t) => (t.includes('BEGIN CERTIFICATE') ? t : ''));
      if (!caPem) await new Promise((r) => setTimeout(r, 200));
    }
    const docker = new Docker();
    // Its own manager label: an agent running on the same engine leaves these sidecars alone.
    const runtime = new DockerSidecarRuntime(docker, { image: 'hostmesh/mesh:latest', proxyUid: 1337, manager: `contract-${tag}` });
    return {
      runtime,
      controllerUrl: 'https://controller:15012',
      caPem,
      token: async (service) => (await run(['docker', 'exec', '-e', 'MESH_DATA_DIR=/var/lib/mesh', ctl, 'meshctl', 'token', 'create', '--service', service])).trim(),
      workload: async (instanceId): Promise<DiscoveredWorkload> => {
        const app = (await run(['docker', 'run', '-d', '--network', network, 'hostmesh/bookinfo:latest', '--name=contract', '--port=9080'])).trim();
        containers.push(app);
        const info = await docker.getContainer(app).inspect();
        const address = Object.values(info.NetworkSettings.Networks)[0].IPAddress;
        return { instanceId, decl: declaration('contract', 9080), address, appRef: app, netnsPid: info.State.Pid };
      },
      close: async () => {
        for (const s of await runtime.list()) await runtime.remove(s);
        for (const c of containers) await run(['docker', 'rm', '-f', c], { allowFailure: true });
        await run(['docker', 'network', 'rm', network], { allowFailure: true });
      },
    };
  },
  { skip: dockerSkip },
);
