import { configDumpViolations } from '../../core/config-dump.js';
import { ConfigDumpStore } from './config-dump-store.js';
import { MeshError, validationFailed } from '../../core/errors.js';
import type { ApiDeps } from './deps.js';
import { syncStatus, type ProxyState } from '../snapshots/hub.js';
import { acceptsGzip, GzipParts } from './gzip-parts.js';
import type { Reply, Router } from './router.js';
import { registerSnapshotStream } from './snapshot-stream.js';
import { heartbeatOf, proxyRef, recordPush, waitOf } from './watch-params.js';

export function registerProxyRoutes(router: Router, d: ApiDeps): void {
  const gzip = new GzipParts();
  registerSnapshotStream(router, d, gzip);
  // The watch: answers at once when the proxy's snapshot differs from `version`, else holds the
  // request until it changes or `wait` passes (then 304).
  router.add('GET', '/v1/snapshots', 'workload', async (ctx): Promise<Reply> => {
    const ref = proxyRef(ctx);
    const known = ctx.query.get('version') ?? undefined;
    const waitText = ctx.query.get('wait');
    const waitMs = waitText ? waitOf(waitText, d.maxWatchMs) : 0;
    // heartbeat=4s: while the watch is held, a 102 Processing every 4 s, so a proxy whose
    // controller's host went silent (no reset, no answer) notices within seconds, not at the
    // end of the wait (proxy/snapshot-source.ts).
    const heartbeatMs = heartbeatOf(ctx.query.get('heartbeat'));
    const beat = heartbeatMs && waitMs > heartbeatMs ? setInterval(() => ctx.res.writeProcessing(), heartbeatMs) : undefined;
    let state: ProxyState;
    try {
      state = await d.hub.watch(ref, known, waitMs, ctx.signal);
    } finally {
      clearInterval(beat);
    }
    const etag = `"${state.version}"`;
    // Says the heartbeat is honoured, so the proxy holds its next watch here to the short timeout from the start.
    const beats: Record<string, string> = heartbeatMs ? { 'x-mesh-heartbeat': String(heartbeatMs / 1000) } : {};
    if (known !== undefined && state.version === known) return { status: 304, headers: { etag, ...beats } };
    // delta=1: the proxy applies incremental snapshots (core/snapshot/delta.ts).
    const { parts, kind, delta, bytes } = d.hub.partsToSend(state, known, ctx.query.get('delta') === '1');
    recordPush(d, state, bytes);
    const headers: Record<string, string> = { etag, vary: 'accept-encoding', 'x-mesh-snapshot': delta ? 'delta' : 'full', ...beats };
    if (acceptsGzip(ctx.req.headers['accept-encoding'])) return { raw: gzip.encode(parts, kind, state.proxyPiece), headers: { ...headers, 'content-encoding': 'gzip' } };
    return { raw: parts, headers };
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

  // What each sidecar runs (its own view: endpoints ejected by outlier detection, listeners
  // open, the certificate in use), as it last reported it; meshctl proxy-config reads it.
  const dumps = new ConfigDumpStore(d.configDumpBytesPerIdentity);
  router.add('PUT', '/v1/proxies/:id/config-dump', 'workload', async (ctx) => {
    const id = ctx.params[0];
    const s = d.hub.get(id);
    if (!s) throw new MeshError('NOT_FOUND', `no proxy "${id}" watches its snapshot; report after the watch has started`);
    const p = ctx.principal;
    const account = s.ref.serviceAccount ?? s.ref.service;
    if (p.kind === 'workload' && (p.namespace !== s.ref.namespace || p.service !== account))
      throw new MeshError('PERMISSION_DENIED', `workload ${p.identity} may not report the state of proxy "${id}" (namespace ${s.ref.namespace}, service account ${account})`);
    const raw = await ctx.body();
    const violations = configDumpViolations(await ctx.json(), id);
    if (violations.length > 0) throw validationFailed(`config dump of proxy "${id}"`, violations);
    dumps.put(id, `${s.ref.namespace}/${account}`, raw, Date.now());
    // Proxies the hub has forgotten leave with it (checked now and then, not on every report).
    if (dumps.size > d.hub.size + 100) dumps.prune((k) => d.hub.get(k) !== undefined);
    return { status: 204 };
  });
  router.add('GET', '/v1/proxies/:id/config-dump', 'admin', (ctx) => {
    const id = ctx.params[0];
    const held = dumps.get(id);
    if (!d.hub.get(id)) {
      dumps.delete(id);
      throw new MeshError('NOT_FOUND', `no proxy "${id}" has connected recently; see \`meshctl proxy-status\``);
    }
    if (!held)
      throw new MeshError(
        'NOT_FOUND',
        `proxy "${id}" has not reported its state yet, or its report was dropped for newer ones of its identity (sidecars report soon after they start and when it changes)`,
      );
    // Checked when it came; kept as bytes, read again only when someone asks.
    return { body: { receivedAt: new Date(held.receivedAt).toISOString(), ...(JSON.parse(held.raw.toString('utf8')) as object) } };
  });

  router.add('GET', '/v1/proxies/:id', 'admin', (ctx) => {
    const s = d.hub.get(ctx.params[0]);
    if (!s) throw new MeshError('NOT_FOUND', `no proxy "${ctx.params[0]}" has connected recently; see \`meshctl proxies\``);
    return { raw: s.jsonParts };
  });
}
