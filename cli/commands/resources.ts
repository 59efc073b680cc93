import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { MeshError, validationFailed, type Violation } from '../../core/errors.js';
import { kindNames, resolveKind } from '../../core/resources/kinds.js';
import { parseDocuments } from '../../core/resources/parse.js';
import type { Resource } from '../../core/resources/types.js';
import { isPlainObject } from '../../core/resources/schema.js';
import { validateResource } from '../../core/resources/validate.js';
import type { ControllerClient } from '../../common/controller-client.js';
import { age, output, table } from '../format.js';

/** Reads files, directories (their .yaml/.yml/.json files) or stdin ("-"). */
export function readSources(paths: string[], stdin: () => string): { name: string; text: string }[] {
  const out: { name: string; text: string }[] = [];
  for (const p of paths) {
    if (p === '-') {
      out.push({ name: 'stdin', text: stdin() });
      continue;
    }
    let st;
    try {
      st = statSync(p);
    } catch {
      throw new MeshError('NOT_FOUND', `${p}: no such file or directory`);
    }
    if (st.isDirectory()) {
      for (const f of readdirSync(p)
        .filter((f) => /\.(ya?ml|json)$/.test(f))
        .sort())
        out.push({ name: join(p, f), text: readFileSync(join(p, f), 'utf8') });
    } else out.push({ name: p, text: readFileSync(p, 'utf8') });
  }
  if (out.length === 0) throw new MeshError('INVALID_ARGUMENT', `no .yaml, .yml or .json files in ${paths.join(', ')}`);
  return out;
}

/** `get -A`: every namespace. */
export const ALL_NAMESPACES = Symbol('all namespaces');

/**
 * Validates locally first so that errors name the file and line; the controller checks again.
 * `namespace` (`-n`) is given to documents that name none, as `kubectl apply -n` does; one that
 * names another namespace is refused. Warnings (deprecated Istio fields read as their
 * replacements) go to `warn`, as kubectl prints Istio's.
 */
export async function apply(client: ControllerClient, sources: { name: string; text: string }[], namespace?: string, warn: (line: string) => void = () => undefined): Promise<string> {
  const docs: Resource[] = [];
  const violations: Violation[] = [];
  for (const s of sources) {
    for (const doc of parseDocuments(s.text, s.name)) {
      const warnings: Violation[] = [];
      try {
        docs.push(validateResource(namespace === undefined ? doc.value : inNamespace(doc.value, namespace), doc.where, warnings));
        for (const w of warnings) warn(`Warning: ${doc.where}: ${w.path} ${w.message}\n`);
      } catch (err) {
        if (!(err instanceof MeshError)) throw err;
        if (err.violations.length === 0) throw err;
        for (const v of err.violations) violations.push({ ...v, document: doc.where });
      }
    }
  }
  if (violations.length > 0)
    throw new MeshError('VALIDATION_FAILED', `nothing was applied: ${validationFailed(`the input (${new Set(violations.map((v) => v.document)).size} of its documents)`, violations).message}`, {
      violations,
    });
  if (docs.length === 0) throw new MeshError('INVALID_ARGUMENT', 'the input holds no resource');
  const res = await client.call('POST', '/v1/apply', docs.map((d) => JSON.stringify(d)).join('\n---\n'));
  const { results } = res.json<{ results: { kind: string; namespace: string; name: string; action: string }[] }>();
  return results.map((r) => `${r.kind.toLowerCase()}/${r.name} (${r.namespace}) ${r.action}`).join('\n') + '\n';
}

/** The document with `namespace` where it names none; a violation where it names another. */
function inNamespace(doc: unknown, namespace: string): unknown {
  if (!isPlainObject(doc) || !isPlainObject(doc.metadata)) return doc;
  const named = doc.metadata.namespace;
  if (named === undefined) return { ...doc, metadata: { ...doc.metadata, namespace } };
  if (named !== namespace)
    throw new MeshError('INVALID_ARGUMENT', `the document names namespace "${String(named)}", which does not match -n ${namespace}; remove one of them`, {
      violations: [{ path: 'metadata.namespace', message: `is "${String(named)}", but -n says "${namespace}"` }],
    });
  return doc;
}

export async function get(client: ControllerClient, kindText: string, name: string | undefined, scope: string | typeof ALL_NAMESPACES, format: string): Promise<string> {
  const namespace = scope === ALL_NAMESPACES ? undefined : scope;
  const info = resolveKind(kindText);
  if (!info) throw new MeshError('UNKNOWN_KIND', `unknown kind "${kindText}"; use one of ${kindNames()} (or vs, dr, se, pa, ap, ra)`);
  if (name) {
    if (scope === ALL_NAMESPACES) throw new MeshError('INVALID_ARGUMENT', 'a name is looked up in one namespace: use -n NAMESPACE, not -A');
    const r = await client.call('GET', `/v1/resources/${info.kind}/${encodeURIComponent(scope)}/${encodeURIComponent(name)}`);
    return output(r.json(), format === 'table' ? 'yaml' : format);
  }
  const q = namespace ? `?namespace=${encodeURIComponent(namespace)}` : '';
  const { items } = (await client.call('GET', `/v1/resources/${info.kind}${q}`)).json<{ items: Resource[] }>();
  if (format !== 'table') return output({ items }, format);
  if (items.length === 0) return `No ${info.kind} resources${namespace ? ` in namespace ${namespace}` : ''}.\n`;
  return table(
    ['NAMESPACE', 'NAME', 'VERSION', 'AGE'],
    items.map((r) => [r.metadata.namespace, r.metadata.name, r.metadata.resourceVersion ?? '', age(r.metadata.creationTimestamp)]),
  );
}

export async function remove(client: ControllerClient, kindText: string, name: string, namespace: string | undefined): Promise<string> {
  const info = resolveKind(kindText);
  if (!info) throw new MeshError('UNKNOWN_KIND', `unknown kind "${kindText}"; use one of ${kindNames()}`);
  await client.call('DELETE', `/v1/resources/${info.kind}/${encodeURIComponent(namespace ?? 'default')}/${encodeURIComponent(name)}`);
  return `${info.kind.toLowerCase()}/${name} (${namespace ?? 'default'}) deleted\n`;
}
