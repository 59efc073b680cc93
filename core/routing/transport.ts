// How a connection to an endpoint is secured: one decision, made here, that the connection
// pools, the relay, HTTP/2 sessions, upgrades and TCP all follow, and that the metrics labels
// are read from, so that what is reported is what was done. Pure: files named by a
// DestinationRule are read by the proxy (proxy/tls-origination.ts).
import type { Cluster, Endpoint } from '../snapshot/types.js';

export type UpstreamTransport =
  /** mTLS with the mesh identity to the endpoint's sidecar, checking its SPIFFE ID. */
  | { kind: 'mesh-mtls'; port: number; expectedIds: string[] }
  /** TLS originated by the sidecar to the endpoint itself (DestinationRule SIMPLE or MUTUAL). */
  | { kind: 'tls'; port: number; mutual: boolean; servername?: string; verifyNames: string[]; caCertificates?: string; clientCertificate?: string; privateKey?: string; insecureSkipVerify: boolean }
  | { kind: 'plaintext'; port: number };

/**
 * Asked for every request (pool lookup, labels); decided once per cluster and endpoint, which
 * a snapshot never changes (a new snapshot brings new objects).
 */
const decided = new WeakMap<Cluster, WeakMap<Endpoint, UpstreamTransport>>();

export function upstreamTransport(cluster: Cluster, e: Endpoint): UpstreamTransport {
  let byEndpoint = decided.get(cluster);
  if (!byEndpoint) decided.set(cluster, (byEndpoint = new WeakMap()));
  let t = byEndpoint.get(e);
  if (!t) byEndpoint.set(e, (t = decideTransport(cluster, e)));
  return t;
}

function decideTransport(cluster: Cluster, e: Endpoint): UpstreamTransport {
  const tls = cluster.tls;
  const mesh = (): UpstreamTransport => ({ kind: 'mesh-mtls', port: e.sidecarPort ?? e.port, expectedIds: tls.subjectAltNames });
  switch (tls.mode) {
    case 'ISTIO_MUTUAL':
      return mesh();
    case 'AUTO':
      return e.sidecarPort !== undefined ? mesh() : { kind: 'plaintext', port: e.port };
    case 'SIMPLE':
    case 'MUTUAL': {
      // SNI: the rule's, else the service's host name (Istio's auto SNI); never an IP address.
      const name = tls.sni ?? cluster.service;
      const servername = /^[0-9.]+$/.test(name) || name.includes(':') ? undefined : name;
      return {
        kind: 'tls',
        port: e.port,
        mutual: tls.mode === 'MUTUAL',
        servername,
        // The certificate must name one of subjectAltNames when given, else the SNI host name.
        verifyNames: tls.subjectAltNames.length > 0 ? tls.subjectAltNames : servername ? [servername] : [e.address],
        caCertificates: tls.caCertificates,
        clientCertificate: tls.clientCertificate,
        privateKey: tls.privateKey,
        insecureSkipVerify: tls.insecureSkipVerify === true,
      };
    }
    default:
      return { kind: 'plaintext', port: e.port };
  }
}

/** The identity the destination proved, for `destination_principal`. */
export function provenPrincipal(t: UpstreamTransport): string {
  return t.kind === 'mesh-mtls' ? (t.expectedIds[0] ?? 'unknown') : 'unknown';
}
