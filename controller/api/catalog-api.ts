import { prometheusTargets } from '../../core/prometheus-targets.js';
import { MeshError } from '../../core/errors.js';
import { isPlainObject } from '../../core/resources/schema.js';
import { EmbeddedCatalog } from '../catalog/embedded.js';
import type { ApiDeps } from './deps.js';
import type { RequestContext, Router } from './router.js';

export function registerCatalogRoutes(router: Router, d: ApiDeps): void {
  router.add('GET', '/v1/services', 'workload', () => ({
    body: {
      backend: d.catalogBackend,
      healthy: d.catalog.healthy(),
      services: [...d.catalog.endpoints().entries()].map(([key, instances]) => {
        const [namespace, name] = key.split('/');
        return { name, namespace, instances };
      }),
    },
  }));

  // Prometheus HTTP service discovery: every sidecar's status port, from the catalog. Read with
  // the admin token or a host agent token (Prometheus's `authorization.credentials_file`).
  router.add('GET', '/v1/prometheus/targets', 'agent', () => ({ body: prometheusTargets(d.catalog.endpoints()) }));

  router.add('POST', '/v1/catalog/instances', 'catalog', async (ctx) => {
    const body = await ctx.json();
    ownServiceOnly(ctx, body);
    await d.catalog.register(body as never);
    d.metrics.regEvents.inc({ type: 'Endpoints', event: 'add' });
    return { status: 201, body: { registered: (body as { id: string }).id } };
  });

  router.add('DELETE', '/v1/catalog/instances/:id', 'catalog', async (ctx) => {
    ownInstanceOnly(ctx, d);
    await d.catalog.deregister(ctx.params[0]);
    d.metrics.regEvents.inc({ type: 'Endpoints', event: 'delete' });
    return { status: 204 };
  });

  router.add('PUT', '/v1/catalog/instances/:id/heartbeat', 'catalog', (ctx) => {
    if (!(d.catalog instanceof EmbeddedCatalog)) throw new MeshError('INVALID_ARGUMENT', 'heartbeats go to the local Consul agent when Consul is the catalog');
    ownInstanceOnly(ctx, d);
    d.catalog.heartbeat(ctx.params[0]);
    return { status: 204 };
  });
}

/** A workload certificate may act on instances of its own service only. */
function ownInstanceOnly(ctx: RequestContext, d: ApiDeps): void {
  const p = ctx.principal;
  if (p.kind !== 'workload') return;
  const id = ctx.params[0];
  const owner = [...d.catalog.endpoints().values()].flat().find((i) => i.id === id);
  if (!owner) throw new MeshError('NOT_FOUND', `no healthy instance "${id}" of ${p.namespace}/${p.service} is registered`);
  if (owner.service !== p.service || owner.namespace !== p.namespace)
    throw new MeshError('PERMISSION_DENIED', `${p.identity} may act on instances of ${p.namespace}/${p.service} only; "${id}" belongs to ${owner.namespace}/${owner.service}`);
}

/** A workload certificate may register only instances of its own service. */
function ownServiceOnly(ctx: RequestContext, body: unknown): void {
  const p = ctx.principal;
  if (p.kind !== 'workload' || !isPlainObject(body)) return;
  if (body.service !== p.service || (body.namespace ?? 'default') !== p.namespace) {
    throw new MeshError('PERMISSION_DENIED', `${p.identity} may register instances of ${p.namespace}/${p.service} only, not ${String(body.namespace ?? 'default')}/${String(body.service)}`);
  }
}
