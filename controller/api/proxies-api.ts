import { parseDurationMs } from '../../core/duration.js';
import { MeshError } from '../../core/errors.js';
import type { ProxyRef } from '../../core/snapshot/compile.js';
import type { ApiDeps } from './deps.js';
import { syncStatus, type ProxyState } from '../snapshots/hub.js';
import { acceptsGzip, GzipParts } from './gzip-parts.js';
import type { Reply, RequestContext, Router } from './router.js';

export function registerProxyRoutes(router: Router, d: ApiDeps): void {
  const gzip = new GzipParts();
  // The watch: answers at once when the proxy's snapshot differs from `version`, else holds the
  // request until it changes or `wait` passes (then 304).
  router.add('GET', '/v1/snapshots', 'workload', async (ctx): Promise<Reply> => {
    const ref = proxyRef(ctx);
    const known = ctx.query.get('version') ?? undefined;
    const waitText = ctx.query.get('wait');
    let waitMs = 0;
    if (waitText) {
      const w = parseDurationMs(waitText);
      if (typeof w === 'string') throw new MeshError('INVALID_ARGUMENT', `wait: ${w}`);
      waitMs = Math.min(w, d.maxWatchMs);
    }
    const state = await d.hub.watch(ref, known, waitMs, ctx.signal);
    const etag = `"${state.version}"`;
    if (known !== undefined && state.version === known) return { status: 304, headers: { etag } };
    recordPush(d, state);
    state.sentVersion = state.version;
    if (acceptsGzip(ctx.req.headers['accept-encoding'])) return { raw: gzip.encode(state.jsonParts), headers: { etag, 'content-encoding': 'gzip', vary: 'accept-encoding' } };
    return { raw: state.jsonParts, headers: { etag, vary: 'accept-encoding' } };
  });

  router.add('GET', '/v1/proxies', 'admin', () => ({
    body: {
      proxies: d.hub.list().map((s) => ({
        id: s.ref.id,
        service: s.ref.service,
        namespace: s.ref.namespace,
        version: s.version,
        // What the proxy holds against what it would be sent now (meshctl proxy-status).
        status: syncStatus(s),
        ackedVersion: s.ackedVersion ?? null,
        lastSeen: new Date(s.lastSeen).toISOString(),
        compiledAt: new Date(s.compiledAt).toISOString(),
      })),
    },
  }));

  router.add('GET', '/v1/proxies/:id', 'admin', (ctx) => {
    const s = d.hub.get(ctx.params[0]);
    if (!s) throw new MeshError('NOT_FOUND', `no proxy "${ctx.params[0]}" has connected recently; see \`meshctl proxies\``);
    return { raw: s.jsonParts };
  });
}

/** A snapshot goes to a proxy: Istio's push counters and timings. */
function recordPush(d: ApiDeps, state: ProxyState): void {
  const now = Date.now();
  d.metrics.pushes.inc({ type: 'snapshot' });
  d.metrics.pushTime.observe((now - state.compiledAt) / 1000);
  d.metrics.convergence.observe((now - state.triggeredAt) / 1000);
  d.metrics.configSize.observe(state.jsonParts.reduce((n, p) => n + Buffer.byteLength(p), 0));
}

function proxyRef(ctx: RequestContext): ProxyRef {
  const id = ctx.query.get('proxy');
  if (!id) throw new MeshError('INVALID_ARGUMENT', 'name the proxy: ?proxy=<instance id>');
  const p = ctx.principal;
  const service = ctx.query.get('service') ?? (p.kind === 'workload' ? p.service : null);
  const namespace = ctx.query.get('namespace') ?? (p.kind === 'workload' ? p.namespace : 'default');
  if (!service) throw new MeshError('INVALID_ARGUMENT', 'name the service: ?service=<name>');
  // As istiod: a workload reads the configuration of its own namespace; its identity is a service
  // account, which several services may share, so the service it fronts is its own to say.
  if (p.kind === 'workload' && namespace !== p.namespace) {
    throw new MeshError('PERMISSION_DENIED', `${p.identity} may read snapshots of namespace ${p.namespace} only, not of ${namespace}/${service}`);
  }
  const labels: Record<string, string> = {};
  for (const l of ctx.query.getAll('label')) {
    const i = l.indexOf('=');
    if (i > 0) labels[l.slice(0, i)] = l.slice(i + 1);
  }
  const gateway = ctx.query.get('mode') === 'gateway';
  return { id, service, namespace, labels, ...(gateway ? { gateway } : {}), ...(p.kind === 'workload' ? { serviceAccount: p.service } : {}) };
}
