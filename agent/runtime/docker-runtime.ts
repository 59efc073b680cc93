// Sidecars as containers that join their application's network namespace (`container:<id>`),
// run the mesh image as UID 1337, and carry labels through which a restarted agent finds them.
import type Docker from 'dockerode';
import { SIDECAR_LABELS } from '../../core/agent/workload.js';
import type { DiscoveredWorkload, RunningSidecar } from '../../core/agent/plan.js';
import { MeshError } from '../../core/errors.js';
import type { SidecarLaunch, SidecarRuntime } from './runtime.js';

export const MANAGER = 'mesh-agent';
const FINGERPRINT_LABEL = 'mesh.fingerprint';

export interface DockerRuntimeOptions {
  image: string;
  proxyUid: number;
  /** Value of the mesh.managed-by label; only sidecars carrying it are listed and adopted. */
  manager?: string;
}

export class DockerSidecarRuntime implements SidecarRuntime {
  readonly kind = 'docker';

  constructor(
    private readonly docker: Docker,
    private readonly opts: DockerRuntimeOptions,
  ) {}

  private get manager(): string {
    return this.opts.manager ?? MANAGER;
  }

  async list(): Promise<RunningSidecar[]> {
    const all = await this.docker.listContainers({ all: true, filters: { label: [`${SIDECAR_LABELS.managedBy}=${this.manager}`] } });
    return all.map((c) => ({
      instanceId: c.Labels[SIDECAR_LABELS.instance],
      ref: c.Id,
      fingerprint: c.Labels[FINGERPRINT_LABEL] ?? '',
      running: c.State === 'running',
    }));
  }

  async start(w: DiscoveredWorkload, launch: SidecarLaunch): Promise<RunningSidecar> {
    const fp = launch.fingerprint;
    const name = `${w.instanceId}-mesh-proxy`;
    // A leftover with the same name (a crash between create and label check) would block create.
    await this.docker
      .getContainer(name)
      .remove({ force: true })
      .catch(() => undefined);
    let container: Docker.Container;
    try {
      container = await this.docker.createContainer({
        name,
        Image: this.opts.image,
        Cmd: ['mesh-proxy', ...launch.args, '--data-dir', '/var/lib/mesh-proxy'],
        User: `${this.opts.proxyUid}:${this.opts.proxyUid}`,
        Env: Object.entries(launch.env).map(([k, v]) => `${k}=${v}`),
        Labels: {
          [SIDECAR_LABELS.managedBy]: this.manager,
          [SIDECAR_LABELS.sidecarFor]: w.appRef,
          [SIDECAR_LABELS.instance]: w.instanceId,
          [SIDECAR_LABELS.service]: w.decl.service,
          [FINGERPRINT_LABEL]: fp,
        },
        HostConfig: {
          NetworkMode: `container:${w.appRef}`,
          // A crashed sidecar comes back by itself even while the agent is away.
          RestartPolicy: { Name: 'on-failure', MaximumRetryCount: 5 },
          LogConfig: { Type: 'json-file', Config: { 'max-size': '10m', 'max-file': '2' } },
        },
      });
    } catch (err) {
      const msg = (err as Error).message;
      if (/No such image/i.test(msg))
        throw new MeshError('UNAVAILABLE', `the sidecar image ${this.opts.image} is not on this host; build it (docker build -t ${this.opts.image} .) or pass --sidecar-image`, { cause: err });
      throw new MeshError('UNAVAILABLE', `cannot create the sidecar container for ${w.instanceId}: ${msg}`, { cause: err });
    }
    await container.start();
    return { instanceId: w.instanceId, ref: container.id, fingerprint: fp, running: true };
  }

  async logs(s: RunningSidecar): Promise<string> {
    try {
      const buf = (await this.docker.getContainer(s.ref).logs({ stdout: true, stderr: true, tail: 20 })) as unknown as Buffer;
      return demux(buf);
    } catch {
      return '';
    }
  }

  async remove(s: RunningSidecar): Promise<void> {
    await this.docker
      .getContainer(s.ref)
      .remove({ force: true })
      .catch((err: { statusCode?: number }) => {
        if (err.statusCode !== 404 && err.statusCode !== 409) throw err;
      });
  }
}

/** Docker multiplexes stdout/stderr in 8-byte-framed chunks when the container has no TTY. */
function demux(buf: Buffer): string {
  const parts: Buffer[] = [];
  let i = 0;
  while (i + 8 <= buf.length) {
    const len = buf.readUInt32BE(i + 4);
    parts.push(buf.subarray(i + 8, i + 8 + len));
    i += 8 + len;
  }
  return Buffer.concat(parts).toString('utf8').trim();
}
