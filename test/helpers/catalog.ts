// Registers an instance as the agent would, on loopback: a version label (v1 unless given) and,
// behind a sidecar (in-process or a process), that sidecar's inbound and status ports.
import type { ControllerHandle } from './controller.js';

export interface RegisterOptions {
  version?: string;
  protocol?: 'http' | 'http2' | 'grpc' | 'tcp';
  sidecar?: { ports: { inbound: number; status?: number } };
  /** Scraped by Prometheus through the catalog: register the sidecar's status port too. */
  withStatusPort?: boolean;
}

export async function registerInstance(c: ControllerHandle, id: string, service: string, port: number, o: RegisterOptions = {}): Promise<void> {
  const sidecar = o.sidecar && { inboundPort: o.sidecar.ports.inbound, ...(o.withStatusPort ? { statusPort: o.sidecar.ports.status } : {}) };
  const r = await c.call('POST', '/v1/catalog/instances', {
    id,
    service,
    address: '127.0.0.1',
    port,
    ...(o.protocol ? { protocol: o.protocol } : {}),
    labels: { version: o.version ?? 'v1' },
    ...(sidecar ? { sidecar } : {}),
  });
  if (r.status >= 300) throw new Error(`registering ${id}: ${r.status} ${r.text}`);
}
