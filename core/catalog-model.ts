// What the catalog knows about a service instance, independent of where it came from
// (Consul or the embedded registry).

export type AppProtocol = 'http' | 'http2' | 'grpc' | 'tcp';

export interface ServiceInstance {
  /** Unique per instance, e.g. `reviews-v2-1` or a container id. */
  id: string;
  service: string;
  namespace: string;
  address: string;
  /** The application's own port. */
  port: number;
  protocol?: AppProtocol;
  /** `version` and any other metadata; DestinationRule subsets select on these. */
  labels: Record<string, string>;
  /** Present when a sidecar fronts the instance: where it accepts mTLS. */
  sidecar?: { inboundPort: number; statusPort?: number };
  /** The service account its workload identity names (SPIFFE `sa/`); absent: the service name. */
  serviceAccount?: string;
  healthy: boolean;
}

/** Registration input; health defaults to passing until a check says otherwise. */
export interface InstanceRegistration {
  id: string;
  service: string;
  namespace?: string;
  address: string;
  port: number;
  protocol?: AppProtocol;
  labels?: Record<string, string>;
  sidecar?: { inboundPort: number; statusPort?: number };
  serviceAccount?: string;
  /** A health check run by the catalog: HTTP GET must answer 2xx, TCP must connect; ttl expects heartbeats. */
  check?: { http?: string; tcp?: string; ttl?: string; interval?: string };
}

/** Metadata keys used to carry mesh fields through Consul's service Meta. */
export const META = {
  namespace: 'mesh-namespace',
  protocol: 'mesh-protocol',
  sidecarInbound: 'mesh-inbound-port',
  sidecarStatus: 'mesh-status-port',
  serviceAccount: 'mesh-service-account',
} as const;

const RESERVED_META = new Set<string>(Object.values(META));

/** Splits Consul-style Meta into mesh fields and user labels. */
export function instanceFromMeta(base: { id: string; service: string; address: string; port: number; healthy: boolean }, meta: Record<string, string> | undefined): ServiceInstance {
  const m = meta ?? {};
  const labels: Record<string, string> = {};
  for (const [k, v] of Object.entries(m)) if (!RESERVED_META.has(k)) labels[k] = v;
  const inst: ServiceInstance = { ...base, namespace: m[META.namespace] || 'default', labels };
  const protocol = m[META.protocol];
  if (protocol === 'http' || protocol === 'http2' || protocol === 'grpc' || protocol === 'tcp') inst.protocol = protocol;
  if (m[META.serviceAccount]) inst.serviceAccount = m[META.serviceAccount];
  const inbound = Number(m[META.sidecarInbound]);
  if (Number.isInteger(inbound) && inbound > 0) {
    inst.sidecar = { inboundPort: inbound };
    const status = Number(m[META.sidecarStatus]);
    if (Number.isInteger(status) && status > 0) inst.sidecar.statusPort = status;
  }
  return inst;
}

export function metaFromRegistration(r: InstanceRegistration): Record<string, string> {
  const meta: Record<string, string> = { ...(r.labels ?? {}) };
  meta[META.namespace] = r.namespace ?? 'default';
  if (r.protocol) meta[META.protocol] = r.protocol;
  if (r.serviceAccount) meta[META.serviceAccount] = r.serviceAccount;
  if (r.sidecar) {
    meta[META.sidecarInbound] = String(r.sidecar.inboundPort);
    if (r.sidecar.statusPort) meta[META.sidecarStatus] = String(r.sidecar.statusPort);
  }
  return meta;
}
