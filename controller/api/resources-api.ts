import { MeshError, validationFailed, type Violation } from '../../core/errors.js';
import { resolveKind, kindNames } from '../../core/resources/kinds.js';
import { parseDocuments } from '../../core/resources/parse.js';
import type { Resource } from '../../core/resources/types.js';
import { validateResource } from '../../core/resources/validate.js';
import type { ApiDeps } from './deps.js';
import type { RequestContext, Router } from './router.js';

export function registerResourceRoutes(router: Router, d: ApiDeps): void {
  // Multi-document YAML or JSON; every document is validated before any is stored, so a bad
  // document in a file changes nothing.
  router.add('POST', '/v1/apply', 'admin', async (ctx) => {
    const warnings = new Map<Resource, Violation[]>();
    const resources = await readResources(ctx, undefined, warnings).catch((err: unknown) => {
      if (err instanceof MeshError && (err.code === 'VALIDATION_FAILED' || err.code === 'UNKNOWN_KIND')) d.metrics.rejects.inc({ type: 'validation' });
      throw err;
    });
    const results = [];
    for (const r of resources) {
      const { resource, action } = await d.store.apply(r);
      if (action !== 'unchanged') d.metrics.cfgEvents.inc({ type: resource.kind, event: action === 'created' ? 'add' : 'update' });
      const said = warnings.get(r) ?? [];
      results.push({
        kind: resource.kind,
        namespace: resource.metadata.namespace,
        name: resource.metadata.name,
        resourceVersion: resource.metadata.resourceVersion,
        action,
        ...(said.length > 0 ? { warnings: said } : {}),
      });
    }
    return { body: { results } };
  });

  router.add('GET', '/v1/resources', 'admin', (ctx) => {
    const kindText = ctx.query.get('kind');
    const kind = kindText ? kindOf(kindText) : undefined;
    return { body: { items: d.store.list({ kind, namespace: ctx.query.get('namespace') ?? undefined }) } };
  });

  router.add('GET', '/v1/resources/:kind', 'admin', (ctx) => ({ body: { items: d.store.list({ kind: kindOf(ctx.params[0]), namespace: ctx.query.get('namespace') ?? undefined }) } }));

  router.add('GET', '/v1/resources/:kind/:namespace/:name', 'admin', (ctx) => ({ body: d.store.get(kindOf(ctx.params[0]), ctx.params[1], ctx.params[2]) }));

  router.add('POST', '/v1/resources/:kind', 'admin', async (ctx) => {
    const [r] = await readResources(ctx, 1);
    if (r.kind !== kindOf(ctx.params[0])) throw new MeshError('INVALID_ARGUMENT', `the body is a ${r.kind}, but the path says ${ctx.params[0]}`);
    return { status: 201, body: await d.store.create(r) };
  });

  router.add('PUT', '/v1/resources/:kind/:namespace/:name', 'admin', async (ctx) => {
    const [r] = await readResources(ctx, 1);
    const [kind, namespace, name] = [kindOf(ctx.params[0]), ctx.params[1], ctx.params[2]];
    if (r.kind !== kind || r.metadata.namespace !== namespace || r.metadata.name !== name) {
      throw new MeshError('INVALID_ARGUMENT', `the body is ${r.kind} ${r.metadata.namespace}/${r.metadata.name}, but the path names ${kind} ${namespace}/${name}`);
    }
    return { body: await d.store.update(r) };
  });

  router.add('DELETE', '/v1/resources/:kind/:namespace/:name', 'admin', async (ctx) => {
    const kind = kindOf(ctx.params[0]);
    await d.store.delete(kind, ctx.params[1], ctx.params[2], ctx.query.get('resourceVersion') ?? undefined);
    d.metrics.cfgEvents.inc({ type: kind, event: 'delete' });
    return { status: 204 };
  });
}

function kindOf(text: string) {
  const info = resolveKind(text);
  if (!info) throw new MeshError('UNKNOWN_KIND', `unknown kind "${text}"; this mesh serves ${kindNames()}`);
  return info.kind;
}

/** Validated resources; deprecated fields read as their replacements are noted in `warnings`. */
async function readResources(ctx: RequestContext, exactly?: number, warnings?: Map<Resource, Violation[]>): Promise<Resource[]> {
  const text = (await ctx.body()).toString('utf8');
  if (!text.trim()) throw new MeshError('INVALID_ARGUMENT', 'the request body is empty; send YAML or JSON resources');
  const docs = parseDocuments(text, 'the request body');
  if (docs.length === 0) throw new MeshError('INVALID_ARGUMENT', 'the request body holds no resource');
  if (exactly !== undefined && docs.length !== exactly) throw new MeshError('INVALID_ARGUMENT', `expected ${exactly} resource, got ${docs.length}; use POST /v1/apply for several`);
  const resources: Resource[] = [];
  const violations: Violation[] = [];
  for (const doc of docs) {
    try {
      const said: Violation[] = [];
      const r = validateResource(doc.value, doc.where, said);
      resources.push(r);
      if (said.length > 0) warnings?.set(r, said);
    } catch (err) {
      if (!(err instanceof MeshError) || docs.length === 1) throw err;
      for (const v of err.violations) violations.push({ ...v, document: doc.where });
    }
  }
  if (violations.length > 0) {
    const e = validationFailed(`the input (${new Set(violations.map((v) => v.document)).size} of its ${docs.length} documents)`, violations);
    throw new MeshError('VALIDATION_FAILED', `nothing was applied: ${e.message}`, { violations });
  }
  const seen = new Set<string>();
  for (const r of resources) {
    const key = `${r.kind}/${r.metadata.namespace}/${r.metadata.name}`;
    if (seen.has(key)) throw new MeshError('INVALID_ARGUMENT', `${r.kind} ${r.metadata.namespace}/${r.metadata.name} appears twice in the input; nothing was applied`);
    seen.add(key);
  }
  return resources;
}
