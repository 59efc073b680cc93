// What Istio's standard metric labels say about a workload, derived as Istio derives them: a
// workload is a deployment unit (reviews v1 and v2 are two, `reviews-v1` and `reviews-v2`), its
// app and version come from its labels, its canonical service and revision from Istio's canonical
// labels or else app and version. A source sidecar tells the destination sidecar who it is in
// one request header (Istio's metadata exchange), so that both reporters label a request alike.
// Pure.

export interface WorkloadMeta {
  workload: string;
  namespace: string;
  app: string;
  version: string;
  /** The mesh's cluster: the trust domain (Istio's clusterID; "Kubernetes" there by default). */
  cluster: string;
  canonicalService: string;
  canonicalRevision: string;
}

export const UNKNOWN_WORKLOAD: WorkloadMeta = {
  workload: 'unknown',
  namespace: 'unknown',
  app: 'unknown',
  version: 'unknown',
  cluster: 'unknown',
  canonicalService: 'unknown',
  canonicalRevision: 'unknown',
};

/** The request header a source sidecar sends its metadata in, to mesh endpoints only; the destination sidecar removes it. */
export const PEER_HEADER = 'x-mesh-peer';

export function workloadMeta(service: string, namespace: string, labels: Readonly<Record<string, string>>, cluster: string): WorkloadMeta {
  const version = labels.version;
  const app = labels.app ?? service;
  return {
    workload: version ? `${service}-${version}` : service,
    namespace,
    app,
    version: version ?? 'unknown',
    cluster,
    canonicalService: labels['service.istio.io/canonical-name'] ?? app,
    canonicalRevision: labels['service.istio.io/canonical-revision'] ?? version ?? 'latest',
  };
}

/** Istio's destination_service: the service's FQDN. */
export function serviceFqdn(name: string, namespace: string): string {
  return `${name}.${namespace}.svc.cluster.local`;
}

const FIELD = /^[A-Za-z0-9._-]{1,253}$/;
const ORDER = ['workload', 'namespace', 'app', 'version', 'cluster', 'canonicalService', 'canonicalRevision'] as const;

export function encodePeer(m: WorkloadMeta): string {
  return ORDER.map((k) => m[k]).join(';');
}

/** The peer's metadata, or undefined when the header is absent or not in the form encodePeer writes. */
export function decodePeer(text: string | string[] | undefined): WorkloadMeta | undefined {
  if (typeof text !== 'string') return undefined;
  const parts = text.split(';');
  if (parts.length !== ORDER.length || !parts.every((p) => FIELD.test(p))) return undefined;
  return Object.fromEntries(ORDER.map((k, i) => [k, parts[i]])) as unknown as WorkloadMeta;
}
