import type { ApiDeps } from './deps.js';
import type { Router } from './router.js';

export function registerStatusRoutes(router: Router, d: ApiDeps): void {
  // Degraded still answers 200: the controller keeps serving its last known state, and a
  // supervisor restarting it would not bring Consul back.
  router.add('GET', '/healthz', 'public', () => ({ body: d.health() }));
  // Scraped by Prometheus, as istiod's monitoring port is: no credentials, nothing secret in it.
  router.add('GET', '/metrics', 'public', async () => {
    d.metrics.connected.reset();
    d.metrics.connected.set({ version: d.version }, d.hub.size);
    return { raw: await d.metrics.text(), contentType: d.metrics.contentType };
  });

  router.add('GET', '/v1/status', 'admin', () => {
    const endpoints = d.catalog.endpoints();
    return {
      body: {
        version: d.version,
        ...d.health(),
        leader: d.isLeader(),
        trustDomain: d.ca.options.trustDomain,
        catalog: { backend: d.catalogBackend, services: endpoints.size, instances: [...endpoints.values()].reduce((n, l) => n + l.length, 0) },
        resources: d.store.list().length,
        proxies: d.hub.size,
        roots: d.ca.trustBundle().length,
      },
    };
  });

  router.add('POST', '/v1/telemetry', 'workload', async (ctx) => {
    const p = ctx.principal;
    d.telemetry.accept(await ctx.json(), Date.now(), p.kind === 'workload' ? { namespace: p.namespace, serviceAccount: p.service } : undefined);
    return { status: 202 };
  });
  router.add('GET', '/v1/telemetry/services', 'workload', () => ({ body: { services: d.telemetry.services() } }));
  router.add('GET', '/v1/telemetry/edges', 'workload', () => ({ body: { edges: d.telemetry.edges() } }));
}
