// A mirrored copy on the outbound frame relay (VirtualService `mirror`): the whole body, once
// the caller has sent it, to one endpoint of the mirror's cluster; the answer is read and dropped.
import type { HeaderField } from '../../core/h2/hpack.js';
import { mirrorEndpoint, shadowAuthority } from '../outbound-route.js';
import type { RuntimeConfig } from '../runtime-config.js';
import type { UpstreamPool } from '../upstream-pool.js';
import type { ClientLink } from './client-links.js';
import type { FrameBody } from './frame-body.js';
import { fieldValue } from './frame-heads.js';

/** How long a mirrored stream may take before it is cancelled. */
const MIRROR_TIMEOUT_MS = 10_000;

/**
 * Fire and forget: once the caller's body is complete (and was small enough to keep), the same
 * request goes to the mirror's cluster with `-shadow` on its authority, as Istio marks it, and
 * the answer is read and dropped.
 */
export async function mirrorFrames(pool: UpstreamPool, cfg: RuntimeConfig, clusterName: string, head: HeaderField[], body: FrameBody, random: () => number): Promise<void> {
  const whole = cfg.clusters.has(clusterName) ? await body.whole() : undefined;
  const target = whole && mirrorEndpoint(cfg, clusterName, random);
  if (!whole || !target) return;
  const { entry, endpoint } = target;
  let status = 0;
  let finished = false;
  let timer: NodeJS.Timeout | undefined;
  const done = () => {
    if (finished) return;
    finished = true;
    clearTimeout(timer);
    entry.balancer.finished(endpoint, status, Date.now());
  };
  const shadow = head.map((h) => (h.name === ':authority' ? { name: h.name, value: shadowAuthority(h.value) } : h));
  let link: ClientLink;
  let id = 0;
  try {
    link = pool.h2Link(entry.cluster, endpoint);
    id = link.open(shadow, whole.length === 0, {
      headers: (fields, end, trailers) => {
        if (!trailers) status = Number(fieldValue(fields, ':status'));
        if (end) done();
      },
      data: (chunk, end) => {
        link.consumed(id, chunk.length);
        if (end) done();
      },
      broken: done,
      writable: () => undefined,
    });
    if (whole.length > 0) link.send(id, whole, true);
  } catch {
    entry.balancer.finished(endpoint, 0, Date.now());
    return;
  }
  timer = setTimeout(() => {
    link.cancel(id);
    done();
  }, MIRROR_TIMEOUT_MS);
}
