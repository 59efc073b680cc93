// The mesh as people look at it: the graph and per-service pages of the web UI, and what
// `meshctl x describe` prints. Built on read from the catalog, the resources, the proxies' sync
// and the telemetry window; admin only, like every API that shows policies and endpoints.
import { analyze } from '../../core/analysis/analyze.js';
import { describeService, describeWorkload, type DescribeInput } from '../../core/describe.js';
import { MeshError } from '../../core/errors.js';
import { meshGraph } from '../../core/mesh-graph.js';
import { syncStatus } from '../snapshots/hub.js';
import type { ApiDeps } from './deps.js';
import type { Router } from './router.js';

function describeInput(d: ApiDeps): DescribeInput {
  const resources = d.store.list();
  const services = d.catalog.endpoints();
  return {
    resources,
    services,
    rootNamespace: d.rootNamespace,
    proxyStatus: new Map(d.hub.list().map((s) => [s.ref.id, syncStatus(s)])),
    findings: analyze({ resources, services, rootNamespace: d.rootNamespace }),
  };
}

export function registerMeshViewRoutes(router: Router, d: ApiDeps): void {
  router.add('GET', '/v1/mesh/graph', 'admin', () => {
    const input = describeInput(d);
    return { body: { ...meshGraph(input.services, input.proxyStatus, d.telemetry.edges()), findings: input.findings } };
  });
  router.add('GET', '/v1/mesh/services/:namespace/:name', 'admin', (ctx) => {
    const [namespace, name] = ctx.params;
    const found = describeService(describeInput(d), namespace, name);
    if (!found) throw new MeshError('NOT_FOUND', `no service ${namespace}/${name} with healthy instances in the catalog; see \`meshctl services\``);
    return { body: found };
  });
  router.add('GET', '/v1/mesh/workloads/:namespace/:name', 'admin', (ctx) => {
    const [namespace, name] = ctx.params;
    const found = describeWorkload(describeInput(d), namespace, name);
    if (!found)
      throw new MeshError(
        'NOT_FOUND',
        `no workload or instance ${namespace}/${name} in the catalog (a workload is a service's instances of one version, such as reviews-v1); see \`meshctl services\``,
      );
    return { body: found };
  });
}
