// The outbound side for HTTP/2 and gRPC from the application (cleartext h2c; the listener
// recognises the client preface): the same routing, subsets, header rules, timeouts, faults,
// connection-pool limits and telemetry as HTTP/1.1, with each stream carried on a shared
// HTTP/2 session over mTLS (ALPN h2) to the chosen endpoint's sidecar. Streams are not retried:
// their bodies are streamed (gRPC streams may never end), so there is nothing to send again.
import { randomUUID } from 'node:crypto';
import type { ClientHttp2Stream, IncomingHttpHeaders, IncomingHttpStatusHeader, ServerHttp2Stream } from 'node:http2';
import { endpointKey } from '../../core/routing/balancer.js';
import { applyHeaderOps } from '../../core/http1/header-ops.js';
import type { OutboundDeps } from '../outbound.js';
import { chooseCluster, hashKey, redirectLocation, labelEndpoint, outboundLabels, recordOutbound, requestedService, resolveRoute, upstreamRequest, viaOf, type FinishedRequest } from '../outbound-route.js';
import { forwardBody, isGrpc, localAnswer, nextHopHeaders, relayAnswer, streamRequest } from './streams.js';

export function handleOutboundStream(deps: OutboundDeps, stream: ServerHttp2Stream, headers: IncomingHttpHeaders, fixedService?: string): void {
  const random = deps.random ?? Math.random;
  const current = deps.config();
  const req = streamRequest(stream, headers);
  const grpc = isGrpc(headers);
  const authority = String(req.headers.host || fixedService || '');
  const requested = requestedService(current, authority, viaOf(fixedService, stream.session?.socket));
  const f: FinishedRequest = { req, authority, service: requested, labels: outboundLabels(current, requested), started: performance.now(), reqBytes: 0, span: undefined };
  f.labels.request_protocol = grpc ? 'grpc' : 'http';
  const local = (status: number, flags: string, text: string) => {
    localAnswer(stream, grpc, status, flags, text);
    if (grpc) f.labels.grpc_response_status = String(status === 200 ? 0 : 14);
    recordOutbound(deps, f, grpc ? 200 : status, flags, Buffer.byteLength(text));
  };

  const resolved = resolveRoute(current, requested, req, authority);
  if ('status' in resolved) return local(resolved.status, 'NR', resolved.body);
  const { cfg, service, route, url } = resolved;
  if (!req.headers['x-request-id']) req.headers['x-request-id'] = randomUUID();
  f.span = deps.tracer?.begin('client', `${authority}/*`, req.headers, req.headers);
  const action = route.action;
  if (action.type === 'direct') return local(action.status, 'DR', action.body ?? '');
  if (action.type === 'redirect') {
    if (!stream.destroyed) stream.respond({ ':status': action.code, location: redirectLocation(action, authority, url), 'x-mesh-response-flags': 'DR' }, { endStream: true });
    return recordOutbound(deps, f, action.code, 'DR', 0);
  }
  const abort = route.fault?.abort;
  if (abort && random() * 100 < abort.percent) return local(abort.status, 'FI', 'fault filter abort\n');
  const delay = route.fault?.delay && random() * 100 < route.fault.delay.percent ? route.fault.delay.delayMs : 0;

  const chosen = chooseCluster(deps, cfg, action.destinations, f.labels, random);
  if ('status' in chosen) return local(chosen.status, chosen.flags, chosen.body);
  const { dest, entry } = chosen;
  const endpoint = entry.balancer.pick({ now: Date.now(), random, hashKey: hashKey(entry.cluster.lb, req) });
  if (!endpoint) return local(503, 'UH', 'no healthy upstream\n');
  labelEndpoint(f.labels, entry, endpoint);
  const { method, path, headers: out } = upstreamRequest(route, dest, req, url, service, undefined);

  const send = () => {
    if (stream.destroyed) return recordOutbound(deps, f, 0, 'DC', 0);
    entry.balancer.started(endpoint);
    deps.metrics.upstreamActive.inc({ cluster: dest.cluster });
    let settled = false;
    const settle = (status: number) => {
      if (settled) return false;
      settled = true;
      clearTimeout(timer);
      deps.metrics.upstreamActive.dec({ cluster: dest.cluster });
      if (entry.balancer.finished(endpoint, status, Date.now())) deps.metrics.ejections.inc({ cluster: dest.cluster });
      return true;
    };
    let up: ClientHttp2Stream;
    const cancel = new AbortController();
    try {
      up = deps.pool.h2Session(entry.cluster, endpoint).request(nextHopHeaders(method, path, out, headers.te), { signal: cancel.signal });
    } catch (err) {
      settle(0);
      return local(503, 'UF', `upstream connect error: ${(err as Error).message}\n`);
    }
    const timer = route.timeoutMs
      ? setTimeout(() => {
          cancel.abort();
          if (settle(0)) local(504, 'UT', 'upstream request timeout\n');
        }, route.timeoutMs)
      : undefined;
    stream.on('data', (c: Buffer) => (f.reqBytes += c.length));
    forwardBody(stream, up, cancel);
    let responded = false;
    up.once('response', (head: IncomingHttpHeaders & IncomingHttpStatusHeader) => {
      responded = true;
      void relayAnswer(stream, up, cancel, head, (h) => {
        applyHeaderOps(h, route.headers?.response);
        applyHeaderOps(h, dest.headers?.response);
      }).then((r) => {
        if (!settle(r.status)) return;
        f.labels.grpc_response_status = r.grpcStatus;
        recordOutbound(deps, f, r.status, r.broken ? 'UPE' : '-', r.bytes, { upstream_host: endpointKey(endpoint) });
      });
    });
    // Before an answer, a failure is answered here; after it, relayAnswer reports it.
    up.once('error', (err: Error) => {
      if (!responded && settle(0)) local(503, 'UF', `upstream connect error or disconnect/reset before headers: ${err.message}\n`);
    });
    up.once('close', () => {
      if (!responded && settle(0)) local(503, 'UF', 'upstream reset before headers\n');
    });
  };
  if (delay > 0) setTimeout(send, delay);
  else send();
}
