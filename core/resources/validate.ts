// Turns an untrusted document into a Resource, or a VALIDATION_FAILED error listing every
// violation with its field path. Nothing reaches the store or a proxy without passing here.
import { MeshError, validationFailed, type Violation } from '../errors.js';
import { DEFAULT_NAMESPACE } from '../hosts.js';
import { KINDS, kindNames } from './kinds.js';
import { isPlainObject, map, obj, str } from './schema.js';
import { SPEC_SCHEMAS } from './specs.js';
import { upgradeDeprecatedFields } from './deprecated.js';
import type { Kind, Metadata, Resource } from './types.js';

const DNS1123 = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const NAMESPACE_RE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

// Fields the server sets; copies of exported objects carry them, and they are dropped on input.
const SERVER_SET_METADATA = ['uid', 'generation', 'managedFields', 'selfLink', 'creationTimestamp'];

const metadataSchema = obj(
  {
    name: str({ nonEmpty: true, pattern: DNS1123, patternHint: 'is not a valid name: lowercase letters, digits, "-" and "." only, starting and ending alphanumeric' }),
    namespace: str({ pattern: NAMESPACE_RE, patternHint: 'is not a valid namespace: lowercase letters, digits and "-"' }),
    labels: map(str()),
    annotations: map(str()),
    resourceVersion: str({ pattern: /^\d+$/, patternHint: 'is not a resourceVersion this server gave out; send back the one you read, or leave it out' }),
    ...Object.fromEntries(SERVER_SET_METADATA.map((f) => [f, () => undefined])),
  },
  { required: ['name'] },
);

/**
 * Validates one document. `where` names it in messages (e.g. "document 2 of reviews.yaml").
 * Deprecated Istio fields are read as their replacements; `warnings` collects what was read so.
 */
export function validateResource(input: unknown, where = 'resource', warnings?: Violation[]): Resource {
  const upgraded = upgradeDeprecatedFields(input);
  const doc = upgraded.doc;
  const out: Violation[] = [];
  if (!isPlainObject(doc)) throw validationFailed(where, [{ path: '.', message: 'a resource must be a YAML/JSON object with apiVersion, kind, metadata and spec' }]);
  const kindText = doc.kind;
  const info = typeof kindText === 'string' ? KINDS.find((k) => k.kind === kindText) : undefined;
  if (typeof kindText !== 'string') out.push({ path: 'kind', message: `is required; one of ${kindNames()}` });
  else if (!info)
    throw new MeshError('UNKNOWN_KIND', `${where}: unknown kind "${kindText}"; this mesh serves ${kindNames()}`, { violations: [{ path: 'kind', message: `unknown kind "${kindText}"` }] });

  if (info) {
    if (typeof doc.apiVersion !== 'string') out.push({ path: 'apiVersion', message: `is required; use ${info.storageVersion}` });
    else if (!info.acceptedVersions.includes(doc.apiVersion))
      out.push({ path: 'apiVersion', message: `"${doc.apiVersion}" does not serve ${info.kind}; use one of ${info.acceptedVersions.join(', ')}` });
  }
  if (doc.metadata === undefined) out.push({ path: 'metadata', message: 'is required (metadata.name at least)' });
  else {
    metadataSchema(doc.metadata, 'metadata', out);
    if (isPlainObject(doc.metadata) && isPlainObject(doc.metadata.annotations)) checkAnnotations(doc.metadata.annotations, info?.kind, doc.spec, out);
  }
  if (doc.spec === undefined) out.push({ path: 'spec', message: 'is required' });
  else if (info) SPEC_SCHEMAS[info.kind](doc.spec, 'spec', out);
  for (const k of Object.keys(doc)) {
    if (!['apiVersion', 'kind', 'metadata', 'spec', 'status'].includes(k)) out.push({ path: k, message: 'unknown field; a resource has apiVersion, kind, metadata and spec' });
  }
  if (out.length > 0) throw validationFailed(describe(doc, where), out);
  warnings?.push(...upgraded.warnings);

  const md = doc.metadata as Record<string, unknown>;
  const metadata: Metadata = { name: md.name as string, namespace: (md.namespace as string | undefined) ?? DEFAULT_NAMESPACE };
  if (md.labels) metadata.labels = md.labels as Record<string, string>;
  if (md.annotations) metadata.annotations = md.annotations as Record<string, string>;
  if (typeof md.resourceVersion === 'string') metadata.resourceVersion = md.resourceVersion;
  return { apiVersion: info!.storageVersion, kind: info!.kind as Kind, metadata, spec: doc.spec };
}

/** Annotations Istio reads that this mesh implements, with the kinds they apply to. */
const KNOWN_ISTIO_ANNOTATIONS: Record<string, { kinds: string[]; values?: string[] }> = {
  'istio.io/dry-run': { kinds: ['AuthorizationPolicy'], values: ['true', 'false'] },
};
const ISTIO_ANNOTATION = /(^|\.)istio\.io\//;

/** An Istio annotation we do not implement is an error, never silently ignored; others (kubectl's own) are kept. */
function checkAnnotations(annotations: Record<string, unknown>, kind: string | undefined, spec: unknown, out: Violation[]): void {
  for (const [key, value] of Object.entries(annotations)) {
    if (!ISTIO_ANNOTATION.test(key)) continue;
    const path = `metadata.annotations["${key}"]`;
    const known = KNOWN_ISTIO_ANNOTATIONS[key];
    if (!known) out.push({ path, message: `is an Istio annotation this mesh does not implement (implemented: ${Object.keys(KNOWN_ISTIO_ANNOTATIONS).join(', ')}); remove it` });
    else if (kind && !known.kinds.includes(kind)) out.push({ path, message: `applies to ${known.kinds.join(', ')} only, not to ${kind}` });
    else if (known.values && !known.values.includes(String(value))) out.push({ path, message: `must be one of ${known.values.map((v) => `"${v}"`).join(', ')}, got "${String(value)}"` });
    else if (key === 'istio.io/dry-run' && value === 'true' && isPlainObject(spec) && (spec.action === 'CUSTOM' || spec.action === 'AUDIT'))
      out.push({ path, message: `dry-run applies to ALLOW and DENY policies, as in Istio; this one is ${spec.action}` });
  }
}

function describe(doc: Record<string, unknown>, where: string): string {
  const md = isPlainObject(doc.metadata) ? doc.metadata : {};
  const name = typeof md.name === 'string' ? md.name : undefined;
  const kind = typeof doc.kind === 'string' ? doc.kind : undefined;
  return kind && name ? `${kind} "${name}"` : where;
}
