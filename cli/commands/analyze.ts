// meshctl analyze: the mesh's resources (and, with -f, files not applied yet, which take the
// place of the applied ones of the same kind, namespace and name) checked against each other
// and the catalog (core/analysis/analyze.ts). Errors make the exit status 1, as istioctl's do.
import { analyze, type Finding } from '../../core/analysis/analyze.js';
import type { ServiceInstance } from '../../core/catalog-model.js';
import { MeshError, validationFailed, type Violation } from '../../core/errors.js';
import { parseDocuments } from '../../core/resources/parse.js';
import type { Resource } from '../../core/resources/types.js';
import { validateResource } from '../../core/resources/validate.js';
import type { ControllerClient } from '../../common/controller-client.js';
import { output, table } from '../format.js';

export async function analyzeMesh(client: ControllerClient, sources: { name: string; text: string }[], rootNamespace: string, format: string): Promise<{ text: string; errors: boolean }> {
  const applied = (await client.call('GET', '/v1/resources')).json<{ items: Resource[] }>().items;
  const catalog = (await client.call('GET', '/v1/services')).json<{ services: { name: string; namespace: string; instances: ServiceInstance[] }[] }>().services;
  const byKey = new Map(applied.map((r) => [`${r.kind}/${r.metadata.namespace}/${r.metadata.name}`, r]));
  const violations: Violation[] = [];
  for (const s of sources) {
    for (const doc of parseDocuments(s.text, s.name)) {
      try {
        const r = validateResource(doc.value, doc.where);
        byKey.set(`${r.kind}/${r.metadata.namespace}/${r.metadata.name}`, r);
      } catch (err) {
        if (!(err instanceof MeshError) || err.violations.length === 0) throw err;
        for (const v of err.violations) violations.push({ ...v, document: doc.where });
      }
    }
  }
  if (violations.length > 0) throw new MeshError('VALIDATION_FAILED', `nothing was analyzed: ${validationFailed('the input', violations).message}`, { violations });
  const findings: Finding[] = analyze({
    resources: [...byKey.values()],
    services: new Map(catalog.map((s) => [`${s.namespace}/${s.name}`, s.instances])),
    rootNamespace,
  });
  const errors = findings.some((f) => f.level === 'Error');
  if (format !== 'table') return { text: output({ findings }, format), errors };
  if (findings.length === 0) return { text: 'No problems found.\n', errors };
  return {
    text: table(
      ['CODE', 'LEVEL', 'RESOURCE', 'MESSAGE'],
      findings.map((f) => [f.code, f.level, f.resource, f.message]),
    ),
    errors,
  };
}
