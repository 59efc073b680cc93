// The outbound side on the HTTP/1.1 relay: the same routing, balancing, retries, timeouts,
// header rules, metrics and spans as the Node HTTP path (proxy/outbound.ts, through
// outbound-route.ts), with the request written upstream as bytes and the response passed back
// as bytes. Routes that need more (direct answers, redirects, faults, mirroring) go to the full
// path; the connection then stays there.
import { randomUUID } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import { endpointKey } from '../core/routing/balancer.js';
import { applyHeaderOps } from '../core/http1/header-ops.js';
import { localResponseText, requestHeadText, responseHeadText, responseHeaderMap } from '../core/http1/serialize.js';
import type { OutboundDeps } from './outbound.js';
import type { Endpoint } from '../core/snapshot/types.js';
import { attempts, chooseCluster, hashKey, labelPassthrough, passthroughTarget, labelEndpoint, outboundLabels, recordOutbound, resolveRoute, upstreamRequest, type AttemptOutcome, type FinishedRequest, type RequestView } from './outbound-route.js';
import type { RelayRequest, RelayVerdict } from './relay/downstream.js';
import { forwardableHeaders } from './http-util.js';
import { exchange } from './relay/exchange.js';

export async function relayOutbound(deps: OutboundDeps, rr: RelayRequest, fixedService?: string): Promise<RelayVerdict> {
  const { head, body, socket, closeAfter } = rr;
  const random = deps.random ?? Math.random;
  const current = deps.config();
  const authority = head.headers.host ?? fixedService ?? '';
  const requested = current && (fixedService ? current.byName.get(fixedService) : current.serviceForAuthority(authority));
  const req: RequestView = { method: head.method, url: head.target, headers: head.headers, socket };
  const f: FinishedRequest = { req, authority, service: requested, labels: outboundLabels(current, requested), started: performance.now(), reqBytes: body.length, span: undefined };
  const local = (status: number, flags: string, text: string): RelayVerdict => {
    socket.write(localResponseText(status, STATUS_CODES[status] ?? '', flags, text, closeAfter));
    recordOutbound(deps, f, status, flags, Buffer.byteLength(text));
    return closeAfter ? 'close' : 'done';
  };

  const resolved = resolveRoute(current, requested, req, authority);
  if ('status' in resolved) {
    if (!requested && current?.wasMeshHost(authority)) return local(503, 'UH', `no healthy upstream: "${authority}" has no instances in the mesh right now\n`);
    const target = current && !requested ? passthroughTarget(deps, authority, fixedService) : undefined;
    if (!target) return local(resolved.status, 'NR', resolved.body);
    labelPassthrough(f.labels);
    return passthrough(deps, rr, target, f, local);
  }
  const { cfg, service, route, url } = resolved;
  const action = route.action;
  if (action.type !== 'route' || route.fault || route.mirror) return 'full-parser';
  if (!head.headers['x-request-id']) head.headers['x-request-id'] = randomUUID();
  f.span = deps.tracer?.begin('client', `${authority}/*`, head.headers, head.headers);

  const chosen = chooseCluster(deps, cfg, action.destinations, f.labels, random);
  if ('status' in chosen) return local(chosen.status, chosen.flags, chosen.body);
  const { dest, entry } = chosen;

  // The client's Content-Length (if any) is passed on: the body is forwarded exactly as it came.
  const { method, path, headers } = upstreamRequest(route, dest, req, url, service, undefined);
  const request = { head: requestHeadText(method, path, headers), body, isHead: method === 'HEAD' };
  let closeDownstream = false;
  const once = async (endpoint: Endpoint, timeoutMs: number, keep: (status: number) => boolean, fresh: boolean): Promise<AttemptOutcome & { stale?: boolean }> => {
    let up;
    try {
      up = await deps.pool.acquireSocket(entry.cluster, endpoint, fresh);
    } catch (err) {
      return { status: 0, relayed: false, timedOut: false, error: err as Error, bytes: 0 };
    }
    if (socket.destroyed) {
      deps.pool.releaseSocket(up, false, entry.cluster);
      return { status: 0, relayed: false, timedOut: false, error: new Error('downstream closed'), bytes: 0 };
    }
    const reused = deps.pool.wasUsed(up);
    const outcome = await exchange(up, { ...request, timeoutMs }, socket, (h) => {
      if (!keep(h.status)) return undefined;
      const out = responseHeaderMap(h);
      applyHeaderOps(out, route.headers?.response);
      applyHeaderOps(out, dest.headers?.response);
      return responseHeadText(h, out, closeAfter || h.framing.type === 'close');
    });
    deps.pool.releaseSocket(up, outcome.reusable, entry.cluster);
    closeDownstream = outcome.closeDownstream;
    return { ...outcome, stale: reused && outcome.status === 0 && !outcome.relayed && !outcome.timedOut && !outcome.protocolError };
  };
  const result = await attempts(deps, entry, route, dest.cluster, hashKey(entry.cluster.lb, req), true, random, (e) => labelEndpoint(f.labels, entry, e), async (endpoint, timeoutMs, keep) => {
    // A kept-alive connection that died while idle (the peer restarted, its network namespace
    // went away) fails before any answer, with nothing processed: the request goes once more
    // on a new connection, and the other idle ones to that endpoint are dropped. Not a retry.
    const first = await once(endpoint, timeoutMs, keep, false);
    return first.stale && !socket.destroyed ? once(endpoint, timeoutMs, keep, true) : first;
  });
  if (result.relayed && !result.error) {
    recordOutbound(deps, f, result.status, '-', result.bytes, { upstream_host: result.endpoint ? endpointKey(result.endpoint) : undefined });
    return closeAfter || closeDownstream ? 'close' : 'done';
  }
  if (result.relayed) {
    // The answer broke off after its head went out: all we can do is close.
    socket.destroy();
    recordOutbound(deps, f, result.status, 'UPE', result.bytes);
    return 'close';
  }
  if (socket.destroyed) {
    recordOutbound(deps, f, 0, 'DC', 0);
    return 'close';
  }
  if (result.protocolError) return local(502, 'UPE', `upstream protocol error: ${result.error?.message}\n`);
  return local(result.timedOut ? 504 : 503, result.flags, `upstream ${result.timedOut ? 'request timeout' : `connect error or disconnect/reset before headers: ${result.error?.message ?? 'no healthy upstream'}`}\n`);
}

/** ALLOW_ANY: the request, as it came, to the host it names outside the mesh. */
async function passthrough(deps: OutboundDeps, rr: RelayRequest, target: { host: string; port: number }, f: FinishedRequest, local: (status: number, flags: string, text: string) => RelayVerdict): Promise<RelayVerdict> {
  const { head, body, socket, closeAfter } = rr;
  let up;
  try {
    up = await deps.pool.acquirePassthrough(target.host, target.port);
  } catch (err) {
    return local(503, 'UF', `passthrough to ${target.host}:${target.port} failed: ${(err as Error).message}\n`);
  }
  const outcome = await exchange(up, { head: requestHeadText(head.method, head.target, forwardableHeaders(head.headers)), body, isHead: head.method === 'HEAD', timeoutMs: Infinity }, socket, (h) => responseHeadText(h, responseHeaderMap(h), closeAfter || h.framing.type === 'close'));
  deps.pool.releasePassthrough(up, outcome.reusable);
  if (outcome.relayed && !outcome.error) {
    recordOutbound(deps, f, outcome.status, '-', outcome.bytes, { upstream_host: `${target.host}:${target.port}` });
    return closeAfter || outcome.closeDownstream ? 'close' : 'done';
  }
  if (outcome.relayed || socket.destroyed) {
    socket.destroy();
    recordOutbound(deps, f, outcome.status, outcome.relayed ? 'UPE' : 'DC', outcome.bytes);
    return 'close';
  }
  return local(outcome.protocolError ? 502 : 503, outcome.protocolError ? 'UPE' : 'UF', `passthrough to ${target.host}:${target.port} failed: ${outcome.error?.message}\n`);
}
