// Registering an instance with a Consul agent, as the controller does with its own and as a host
// agent does with the Consul agent of the host its workloads run on (`mesh-agent --consul-agent`):
// a registration lives and dies with the agent that holds it, so one held by the workloads' own
// host outlives any controller and any controller's host.
import type Consul from 'consul';
import type { InstanceRegistration } from '../core/catalog-model.js';
import { metaFromRegistration } from '../core/catalog-model.js';
import { validateRegistration } from '../core/catalog-registration.js';
import { MeshError } from '../core/errors.js';

export class ConsulAgentRegistrar {
  constructor(private readonly consul: Consul) {}

  async register(registration: InstanceRegistration): Promise<void> {
    const r = validateRegistration(registration);
    const check = r.check
      ? {
          ...(r.check.http ? { http: r.check.http } : r.check.tcp ? { tcp: r.check.tcp } : { ttl: r.check.ttl }),
          interval: r.check.ttl ? undefined : (r.check.interval ?? '1s'),
          timeout: '2s',
          deregistercriticalserviceafter: '10m',
        }
      : undefined;
    try {
      await this.consul.agent.service.register({ id: r.id, name: r.service, address: r.address, port: r.port, meta: metaFromRegistration(r), ...(check ? { check: check as never } : {}) });
      if (r.check?.ttl) await this.consul.agent.check.pass(`service:${r.id}`);
    } catch (err) {
      throw new MeshError('UNAVAILABLE', `Consul refused or did not answer the registration of ${r.id}: ${(err as Error).message}`, { cause: err });
    }
  }

  async deregister(instanceId: string): Promise<void> {
    try {
      await this.consul.agent.service.deregister(instanceId);
    } catch (err) {
      const status = (err as { response?: { statusCode?: number } }).response?.statusCode;
      if (status === 404) throw new MeshError('NOT_FOUND', `no instance "${instanceId}" is registered with the local Consul agent`);
      throw new MeshError('UNAVAILABLE', `Consul did not deregister ${instanceId}: ${(err as Error).message}`, { cause: err });
    }
  }
}

/** `host:port` of a Consul agent's HTTP API, as --consul takes it; `flag` names the option in the error. */
export function consulAt(address: string, flag: string): { host: string; port: number } {
  const i = address.lastIndexOf(':');
  const host = address.slice(0, i);
  const port = Number(address.slice(i + 1));
  if (i <= 0 || !Number.isInteger(port) || port < 1 || port > 65535)
    throw new MeshError('INVALID_ARGUMENT', `${flag}: give the Consul agent as host:port (for example 127.0.0.1:8500), got "${address}"`);
  return { host, port };
}
