// The kinds this mesh serves, the apiVersions Istio users write for them, and the short names
// meshctl accepts (the same ones kubectl/istioctl users type).
import type { Kind } from './types.js';

export interface KindInfo {
  kind: Kind;
  group: 'networking.istio.io' | 'security.istio.io' | 'telemetry.istio.io' | 'policy.hostmesh.io';
  /** apiVersion we store and return. */
  storageVersion: string;
  /** apiVersions accepted on input; Istio serves the same schema under all of them. */
  acceptedVersions: string[];
  plural: string;
  aliases: string[];
}

const NETWORKING = ['v1', 'v1beta1', 'v1alpha3'];
const SECURITY = ['v1', 'v1beta1'];

const VERSIONS: Record<KindInfo['group'], string[]> = {
  'networking.istio.io': NETWORKING,
  'security.istio.io': SECURITY,
  'telemetry.istio.io': ['v1', 'v1alpha1'],
  'policy.hostmesh.io': ['v1alpha1'],
};

function info(kind: Kind, group: KindInfo['group'], plural: string, aliases: string[]): KindInfo {
  const versions = VERSIONS[group];
  return { kind, group, storageVersion: `${group}/${versions[0]}`, acceptedVersions: versions.map((v) => `${group}/${v}`), plural, aliases };
}

export const KINDS: readonly KindInfo[] = [
  info('VirtualService', 'networking.istio.io', 'virtualservices', ['vs', 'virtualservice']),
  info('DestinationRule', 'networking.istio.io', 'destinationrules', ['dr', 'destinationrule']),
  info('ServiceEntry', 'networking.istio.io', 'serviceentries', ['se', 'serviceentry']),
  info('Gateway', 'networking.istio.io', 'gateways', ['gw', 'gateway']),
  info('Sidecar', 'networking.istio.io', 'sidecars', ['sidecar']),
  info('PeerAuthentication', 'security.istio.io', 'peerauthentications', ['pa', 'peerauthentication']),
  info('AuthorizationPolicy', 'security.istio.io', 'authorizationpolicies', ['ap', 'authorizationpolicy', 'authz']),
  info('RequestAuthentication', 'security.istio.io', 'requestauthentications', ['ra', 'requestauthentication']),
  info('Telemetry', 'telemetry.istio.io', 'telemetries', ['telemetry']),
  // Not an Istio kind (Istio needs an EnvoyFilter for this); named after Envoy's filter.
  info('LocalRateLimit', 'policy.hostmesh.io', 'localratelimits', ['lrl', 'localratelimit', 'ratelimit']),
];

export function kindInfo(kind: Kind): KindInfo {
  return KINDS.find((k) => k.kind === kind)!;
}

/** Resolves what a person typed (`vs`, `VirtualService`, `virtualservices`) to a kind. */
export function resolveKind(text: string): KindInfo | undefined {
  const t = text.toLowerCase();
  return KINDS.find((k) => k.kind.toLowerCase() === t || k.plural === t || k.aliases.includes(t));
}

export function kindNames(): string {
  return KINDS.map((k) => k.kind).join(', ');
}
