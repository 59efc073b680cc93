// The inbound side on the HTTP/1.1 relay: the request, once admitted, goes to the application
// as bytes over a kept-alive connection and the answer comes back as bytes after its head.
import { STATUS_CODES } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { localResponseText, requestHeadText, responseHeadText, responseHeaderMap } from '../core/http1/serialize.js';
import { inboundLabels, peerIdentity, type InboundPolicy } from './inbound-policy.js';
import type { RequestView } from './outbound-route.js';
import type { RelayRequest, RelayVerdict } from './relay/downstream.js';
import { pooledExchange, settled, type PooledUpstream } from './relay/pooled-exchange.js';
import type { Connector, PoolLimits, SocketPool } from './relay/socket-pool.js';
import type { RuntimeConfig } from './runtime-config.js';
import type { ActiveSpan, Tracer } from './tracer.js';

/** Kept-alive connections to the application. */
export interface AppConnections {
  sockets: SocketPool;
  limits: PoolLimits;
  connect: Connector;
}

export async function relayInbound(policy: InboundPolicy, deps: { config(): RuntimeConfig | undefined; tracer?: Tracer }, conns: AppConnections, rr: RelayRequest): Promise<RelayVerdict> {
  const { head, body, socket, closeAfter } = rr;
  const started = performance.now();
  const cfg = deps.config();
  const me = cfg?.snapshot.proxy;
  const peer = (socket as TLSSocket).encrypted ? peerIdentity(socket as TLSSocket) : undefined;
  const req: RequestView = { method: head.method, url: head.target, headers: head.headers, socket };
  const labels = inboundLabels(cfg, peer);
  let span: ActiveSpan | undefined;
  const finish = (status: number, flags: string, resBytes: number, extra?: Record<string, unknown>) => policy.record(req, labels, started, span, peer, status, flags, resBytes, extra);
  const local = (status: number, flags: string, text: string, extra?: Record<string, unknown>, headers?: Record<string, string>): RelayVerdict => {
    socket.write(localResponseText(status, STATUS_CODES[status] ?? '', flags, text, closeAfter, headers));
    finish(status, flags, Buffer.byteLength(text), extra);
    return closeAfter ? 'close' : 'done';
  };
  const admitted = policy.admit(req, peer);
  const verdict = admitted instanceof Promise ? await admitted : admitted;
  if (verdict.kind === 'close') {
    socket.destroy();
    return 'close';
  }
  if (verdict.kind === 'refuse') return local(verdict.status, verdict.flags, verdict.body, verdict.extra, verdict.headers);
  const { forwardPath, headers } = verdict;
  span = deps.tracer?.begin('server', `${head.headers.host ?? me?.service ?? ''}/*`, head.headers, headers);
  const request = { head: requestHeadText(head.method, forwardPath, headers), body, isHead: head.method === 'HEAD', timeoutMs: Infinity };
  const upstream: PooledUpstream = {
    acquire: (fresh) => {
      if (fresh) conns.sockets.dropIdle('app');
      return conns.sockets.acquire('app', conns.limits, conns.connect);
    },
    release: (up, reusable) => conns.sockets.release(up, reusable, conns.limits),
    wasUsed: (up) => conns.sockets.wasUsed(up),
  };
  const outcome = await pooledExchange(upstream, request, socket, (h) => responseHeadText(h, responseHeaderMap(h), closeAfter || h.framing.type === 'close'));
  const done = settled(outcome, socket, closeAfter, (status, flags, bytes) => finish(status, flags, bytes));
  if (done) return done;
  if (outcome.protocolError) return local(502, 'UPE', `the application's answer is not valid HTTP/1.1: ${outcome.error?.message}\n`);
  return local(503, 'UF', `the application did not answer: ${outcome.error?.message ?? 'connection failed'}\n`);
}
