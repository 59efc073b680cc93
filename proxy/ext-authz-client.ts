// Sends external-authorization checks (pipeline/inbound/ext-authz.ts) to a provider: a mesh
// service by its host (over mTLS to its sidecar when it has one, balanced as any call), or any
// other host and port directly. The answer's body is read up to 64 KiB.
import type { ExtAuthzHttpProvider } from '../core/mesh-config.js';
import type { ExtAuthzCall } from './pipeline/inbound/ext-authz.js';
import type { RuntimeConfig } from './runtime-config.js';
import type { UpstreamPool } from './upstream-pool.js';

const MAX_BODY = 64 * 1024;

export function extAuthzClient(config: () => RuntimeConfig | undefined, pool: UpstreamPool): ExtAuthzCall {
  return async (provider, check) => {
    const target = targetOf(config(), pool, provider);
    const signal = AbortSignal.timeout(provider.timeoutMs);
    const res = await target.request({
      method: check.method as 'GET',
      path: check.path,
      headers: { ...check.headers, host: check.headers.host ?? provider.service },
      signal,
      headersTimeout: provider.timeoutMs,
      bodyTimeout: provider.timeoutMs,
    });
    let body = '';
    for await (const chunk of res.body) {
      if (body.length < MAX_BODY) body += (chunk as Buffer).toString('utf8');
    }
    return { status: res.statusCode, headers: res.headers, body: body.slice(0, MAX_BODY) };
  };
}

function targetOf(cfg: RuntimeConfig | undefined, pool: UpstreamPool, provider: ExtAuthzHttpProvider) {
  const service = cfg?.serviceForAuthority(`${provider.service}:${provider.port}`) ?? cfg?.serviceForAuthority(provider.service);
  const entry = service && cfg?.clusters.get(service.clusters.find((c) => c.subset === undefined)?.name ?? service.clusters[0]?.name ?? '');
  if (entry) {
    const endpoint = entry.balancer.pick({ now: Date.now(), random: Math.random });
    if (!endpoint) throw new Error(`no healthy instance of ${provider.service}`);
    return pool.target(entry.cluster, endpoint).pool;
  }
  return pool.passthroughPool(provider.service, provider.port);
}
