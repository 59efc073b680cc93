// A catalog instance for compiler and analysis tests: one address and port, a version label,
// healthy; `sidecar` puts it behind a sidecar's inbound port (15006), as the mesh's own are.
import type { ServiceInstance } from '../../core/catalog-model.js';

export function serviceInstance(service: string, o: { namespace?: string; version?: string; sidecar?: boolean } = {}): ServiceInstance {
  const version = o.version ?? 'v1';
  return {
    id: `${service}-${version}`,
    service,
    namespace: o.namespace ?? 'default',
    address: '10.0.0.1',
    port: 9080,
    labels: { version },
    healthy: true,
    ...(o.sidecar ? { sidecar: { inboundPort: 15006 } } : {}),
  };
}
