// Service discovery behind one interface: Consul, or the embedded registry when no Consul is
// configured. test/integration/catalog.contract.ts runs the same suite against both.
import type { InstanceRegistration, ServiceInstance } from '../../core/catalog-model.js';

export interface Catalog {
  start(): Promise<void>;
  /**
   * Every known service by `namespace/name`, each with the instances whose health checks pass
   * (possibly none). Served from memory: keeps answering while the backend is down.
   */
  endpoints(): ReadonlyMap<string, ServiceInstance[]>;
  /** Called after every change of `endpoints()`. */
  onChange(listener: () => void): () => void;
  register(registration: InstanceRegistration): Promise<void>;
  deregister(instanceId: string): Promise<void>;
  /** False while the backend cannot be reached (the last known catalog is still served). */
  healthy(): boolean;
  /** What is wrong although the backend answers (a limit about to be hit), in words an operator can act on. */
  warning?(): string | undefined;
  close(): Promise<void>;
}
