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
}

export class HttpControllerLink implements ControllerLink {
  private readonly client: ControllerClient;

  constructor(opts: ClientOptions) {
    this.client = new ControllerClient(opts);
  }

  /** Every controller the agent knows, comma-separated: its sidecars fail over between them too. */
  get url(): string {
    return this.client.controllerUrls.join(',');
  }

  get caPem(): string {
    return this.client.caPem ?? '';
  }

  async bootstrapToken(service: string, namespace: string, serviceAccount?: string): Promise<string> {
    // Short-lived: the sidecar spends it within seconds, then renews with its certificate.
    const res = await this.client.call('POST', '/v1/tokens', { service, namespace, ...(serviceAccount ? { serviceAccount } : {}), ttl: '10m' });
    return res.json<{ token: string }>().token;
  }

  async register(r: InstanceRegistration): Promise<void> {
    await this.client.call('POST', '/v1/catalog/instances', r);
  }

  async deregister(instanceId: string): Promise<void> {
    try {
      await this.client.call('DELETE', `/v1/catalog/instances/${encodeURIComponent(instanceId)}`);
    } catch (err) {
      if (!(isMeshError(err) && err.code === 'NOT_FOUND')) throw err;
    }
  }
}
