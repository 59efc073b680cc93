// What a proxy's watch and stream say in their query (who the proxy is, how long to hold, how
// often to heartbeat), and the push metrics both record.
import { parseDurationMs } from '../../core/duration.js';
import { MeshError } from '../../core/errors.js';
import type { ProxyRef } from '../../core/snapshot/compile.js';
import type { ProxyState } from '../snapshots/hub.js';
import type { ApiDeps } from './deps.js';
import type { RequestContext } from './router.js';

/** A snapshot goes to a proxy: Istio's push counters and timings. */
/** `bytes`: the size of what is sent (the whole snapshot or a delta), observed as the config size. */
export function recordPush(d: ApiDeps, state: ProxyState, bytes: number): void {
  const now = Date.now();
  d.metrics.snapshotPushes.inc();
  d.metrics.pushTime.observe((now - state.compiledAt) / 1000);
  d.metrics.convergence.observe((now - state.triggeredAt) / 1000);
  d.metrics.configSize.observe(bytes);
}

/** How long a watch (or a stream) may be held: what it asks for, at most `max`. */
export function waitOf(text: string, max: number): number {
  const w = parseDurationMs(text);
  if (typeof w === 'string') throw new MeshError('INVALID_ARGUMENT', `wait: ${w}`);
  return Math.min(w, max);
}

/** The heartbeat interval a watch asks for: 1 s to 60 s, or none. */
export function heartbeatOf(text: string | null | undefined): number | undefined {
  if (!text) return undefined;
  const ms = parseDurationMs(text);
  if (typeof ms === 'string') throw new MeshError('INVALID_ARGUMENT', `heartbeat: ${ms}`);
  if (ms < 1000 || ms > 60_000) throw new MeshError('INVALID_ARGUMENT', `heartbeat: ${text} is outside 1s..60s`);
  return ms;
}

export function proxyRef(ctx: RequestContext): ProxyRef {
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
