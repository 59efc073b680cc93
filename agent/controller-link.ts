// The agent's calls to the controller: bootstrap tokens for the sidecars it starts, and the
// catalog registration of their instances. The agent authenticates with the admin token (it is
// root on the host and reads it from the controller's data directory or MESH_TOKEN).
import type { InstanceRegistration } from '../core/catalog-model.js';
import { isMeshError } from '../core/errors.js';
import { ControllerClient, type ClientOptions } from '../common/controller-client.js';

export interface ControllerLink {
  readonly url: string;
  readonly caPem: string;
  bootstrapToken(service: string, namespace: string, serviceAccount?: string): Promise<string>;
  register(r: InstanceRegistration): Promise<void>;
  /** Missing instances are fine: deregistration is idempotent. */
  deregister(instanceId: string): Promise<void>;
  /**
   * The controller registrations go through now, after asking it (or the next, when it cannot be
   * reached) within `timeoutMs`. Absent when registrations do not depend on a controller (--consul-agent).
   */
  registrationHolder?(timeoutMs: number): Promise<string>;
  /** The controller requests (registrations among them) go to now, without asking it. */
  readonly activeController?: string;
}

export class HttpControllerLink implements ControllerLink {
  private readonly client: ControllerClient;

  constructor(opts: ClientOptions) {
    // Its calls are small; a controller whose host went silent is left after 15 s, not 90.
    this.client = new ControllerClient({ timeoutMs: 15_000, ...opts });
  }

  /** Every controller the agent knows, comma-separated: its sidecars fail over between them too. */
  get url(): string {
    return this.client.controllerUrls.join(',');
  }

  get caPem(): string {
    return this.client.caPem ?? '';
  }

  get activeController(): string {
    return this.client.baseUrl;
  }

  async bootstrapToken(service: string, namespace: string, serviceAccount?: string): Promise<string> {
    // Short-lived: the sidecar spends it within seconds, then renews with its certificate.
    const res = await this.client.call('POST', '/v1/tokens', { service, namespace, ...(serviceAccount ? { serviceAccount } : {}), ttl: '10m' });
    return res.json<{ token: string }>().token;
  }

  async register(r: InstanceRegistration): Promise<void> {
    await this.client.call('POST', '/v1/catalog/instances', r);
  }

  /** Registrations are held by the Consul agent of the controller that took them (agent/registration-holder.ts). */
  registrationHolder(timeoutMs: number): Promise<string> {
    return this.client.probe(timeoutMs);
  }

  async deregister(instanceId: string): Promise<void> {
    try {
      await this.client.call('DELETE', `/v1/catalog/instances/${encodeURIComponent(instanceId)}`);
    } catch (err) {
      if (!(isMeshError(err) && err.code === 'NOT_FOUND')) throw err;
    }
  }
}

/** What holds the catalog registrations when the controller does not: a Consul agent (common/consul-registration.ts). */
export interface Registrar {
  register(r: InstanceRegistration): Promise<void>;
  deregister(instanceId: string): Promise<void>;
}

/**
 * Tokens and the CA from the controllers; registrations with the Consul agent of this host
 * (`--consul-agent`), so that they live as long as the host its workloads run on, not as long
 * as whichever controller's Consul agent received them.
 */
export class LocalRegistrationLink implements ControllerLink {
  constructor(
    private readonly controller: ControllerLink,
    private readonly registrar: Registrar,
  ) {}

  get url(): string {
    return this.controller.url;
  }

  get caPem(): string {
    return this.controller.caPem;
  }

  bootstrapToken(service: string, namespace: string, serviceAccount?: string): Promise<string> {
    return this.controller.bootstrapToken(service, namespace, serviceAccount);
  }

  register(r: InstanceRegistration): Promise<void> {
    return this.registrar.register(r);
  }

  async deregister(instanceId: string): Promise<void> {
    try {
      await this.registrar.deregister(instanceId);
    } catch (err) {
      if (!(isMeshError(err) && err.code === 'NOT_FOUND')) throw err;
    }
  }
}
