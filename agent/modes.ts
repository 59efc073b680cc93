// Wiring of the two kinds of host: Docker (containers, per-container capture) and VM (service
// files, sidecar processes, one shared capture table).
import { hostname } from 'node:os';
import Docker from 'dockerode';
import type { Logger } from 'pino';
import { MeshAgent, type AgentOptions } from './agent.js';
import { ContainerCapture, HostCapture, UnitOwnedCapture } from './capture.js';
import type { ControllerLink } from './controller-link.js';
import { DockerSidecarRuntime } from './runtime/docker-runtime.js';
import { ProcessSidecarRuntime } from './runtime/process-runtime.js';
import { SystemdSidecarRuntime } from './runtime/systemd-runtime.js';
import { DockerWorkloadSource } from './sources/docker-source.js';
import { FileWorkloadSource } from './sources/file-source.js';

export async function startDockerAgent(o: { socketPath: string; image: string }, link: ControllerLink, opts: AgentOptions, log: Logger): Promise<MeshAgent> {
  const docker = new Docker({ socketPath: o.socketPath });
  await docker.ping().catch((err: Error) => log.error({ socket: o.socketPath, err: err.message }, 'the Docker engine does not answer yet; retrying'));
  const agent = new MeshAgent(
    new DockerWorkloadSource(docker),
    new DockerSidecarRuntime(docker, { image: o.image, proxyUid: opts.settings.proxyUid }),
    new ContainerCapture(opts.settings),
    link,
    opts,
    log,
  );
  await agent.start();
  return agent;
}

export async function startVmAgent(
  o: { configDir: string; address: string; stateDir: string; instancePrefix?: string; runtime: 'process' | 'systemd'; runDir: string },
  link: ControllerLink,
  opts: AgentOptions,
  log: Logger,
): Promise<MeshAgent> {
  const instanceSuffix = o.instancePrefix ?? hostname();
  const agent = new MeshAgent(
    new FileWorkloadSource({ dir: o.configDir, address: o.address, instanceSuffix }),
    o.runtime === 'systemd'
      ? new SystemdSidecarRuntime({ runDir: o.runDir, dataRoot: '/var/lib/mesh-proxy', capture: { configDir: o.configDir, instanceSuffix, settings: opts.settings } })
      : new ProcessSidecarRuntime({ stateDir: o.stateDir, proxyUid: opts.settings.proxyUid }),
    o.runtime === 'systemd' ? new UnitOwnedCapture() : new HostCapture(opts.settings),
    link,
    opts,
    log,
  );
  await agent.start();
  return agent;
}
