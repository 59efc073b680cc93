import { MeshError } from '../errors.js';

export interface SpiffeIdentity {
  trustDomain: string;
  namespace: string;
  service: string;
}

const SPIFFE_RE = /^spiffe:\/\/([a-z0-9._-]+)\/ns\/([a-z0-9-]+)\/sa\/([a-z0-9._-]+)$/;

export function formatSpiffe(id: SpiffeIdentity): string {
  return `spiffe://${id.trustDomain}/ns/${id.namespace}/sa/${id.service}`;
}

export function parseSpiffe(uri: string): SpiffeIdentity {
  const m = SPIFFE_RE.exec(uri);
  if (!m) throw new MeshError('INVALID_ARGUMENT', `"${uri}" is not a mesh identity; expected spiffe://<trust-domain>/ns/<namespace>/sa/<service>`);
  return { trustDomain: m[1], namespace: m[2], service: m[3] };
}

export function isValidTrustDomain(td: string): boolean {
  return /^[a-z0-9]([a-z0-9._-]*[a-z0-9])?$/.test(td);
}

/** The URI names of a certificate, from Node's `subjectaltname` text ("DNS:a, URI:spiffe://..."). */
export function uriSans(subjectaltname: string | undefined): string[] {
  return (subjectaltname ?? '')
    .split(', ')
    .filter((s) => s.startsWith('URI:'))
    .map((s) => s.slice(4));
}
