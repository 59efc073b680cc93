// Istio's standard metric labels, filled in one place for every reporter and codec: who the
// source and the destination workloads are (core/workload-meta.ts), which service was called,
// and the empty set that each request starts from. "unknown" where Istio says unknown.
import { serviceFqdn, type WorkloadMeta } from '../core/workload-meta.js';
import { ISTIO_LABELS, TCP_LABELS, type IstioLabels, type TcpLabels } from './metrics.js';

type Labels = IstioLabels | TcpLabels;

export function setSource(l: Labels, m: WorkloadMeta, principal: string): void {
  l.source_workload = m.workload;
  l.source_workload_namespace = m.namespace;
  l.source_principal = principal;
  l.source_app = m.app;
  l.source_version = m.version;
  l.source_cluster = m.cluster;
  l.source_canonical_service = m.canonicalService;
  l.source_canonical_revision = m.canonicalRevision;
}

export function setDestination(l: Labels, m: WorkloadMeta, principal: string): void {
  l.destination_workload = m.workload;
  l.destination_workload_namespace = m.namespace;
  l.destination_principal = principal;
  l.destination_app = m.app;
  l.destination_version = m.version;
  l.destination_cluster = m.cluster;
  l.destination_canonical_service = m.canonicalService;
  l.destination_canonical_revision = m.canonicalRevision;
}

/** The called service: its FQDN, name and namespace; a pseudo-cluster (PassthroughCluster, BlackHoleCluster) has its name only. */
export function setDestinationService(l: Labels, name: string, namespace: string | undefined): void {
  l.destination_service = namespace ? serviceFqdn(name, namespace) : name;
  l.destination_service_name = name;
  l.destination_service_namespace = namespace ?? 'unknown';
}

/** Status codes as label values, made once: a new string each request is hashed again by the series lookup (proxy/series-index.ts). */
const STATUS_CODE_LABELS = Array.from({ length: 600 }, (_, code) => String(code));

export function statusCodeLabel(status: number): string {
  return STATUS_CODE_LABELS[status] ?? String(status);
}

// Built once, in Istio's label order (the exposition keeps it); each request copies one.
const EMPTY_HTTP = { ...(Object.fromEntries(ISTIO_LABELS.map((k) => [k, 'unknown'])) as IstioLabels), request_protocol: 'http', response_code: '0', grpc_response_status: '', response_flags: '-' };
const EMPTY_TCP = { ...(Object.fromEntries(TCP_LABELS.map((k) => [k, 'unknown'])) as TcpLabels), request_protocol: 'tcp', response_flags: '-' };

/** A request's labels before anything is known of it. */
export function emptyIstioLabels(reporter: 'source' | 'destination'): IstioLabels {
  return { ...EMPTY_HTTP, reporter };
}

export function emptyTcpLabels(reporter: 'source' | 'destination'): TcpLabels {
  return { ...EMPTY_TCP, reporter };
}
