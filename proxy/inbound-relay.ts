// The inbound side on the HTTP/1.1 relay: the request, once admitted, goes to the application
// as bytes over a kept-alive connection and the answer comes back as bytes after its head.
import { STATUS_CODES } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { localResponseText, passedOnHeadText, requestHeadText } from '../core/http1/serialize.js';
import { inboundLabels, peerIdentity, type InboundPolicy } from './inbound-policy.js';
import type { RequestView } from './outbound-route.js';
import type { RelayRequest, RelayVerdict } from './relay/downstream.js';
import { pooledExchange, settled, type PooledUpstream } from './relay/pooled-exchange.js';
import type { Connector, PoolLimits, SocketPool } from './relay/socket-pool.js';
import type { RuntimeConfig } from './runtime-config.js';
import type { ActiveSpan, Tracer } from './tracer.js';
import type { LocalReply } from './pipeline/filter.js';
import { applicationFailure } from './pipeline/local-replies.js';
import type { ResponseFlag } from './pipeline/response-flags.js';

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
  const labels = inboundLabels(cfg, peer, head.headers);
  let span: ActiveSpan | undefined;
  const finish = (status: number, flags: ResponseFlag, resBytes: number, extra?: Record<string, unknown>) => policy.record(req, labels, started, span, peer, status, flags, resBytes, extra);
  // The relay renders every local answer here.
  const sendLocalReply = (r: LocalReply): RelayVerdict => {
    socket.write(localResponseText(r.status, STATUS_CODES[r.status] ?? '', r.flags, r.body, closeAfter, r.headers));
    finish(r.status, r.flags, Buffer.byteLength(r.body), r.details);
    return closeAfter ? 'close' : 'done';
  };
  const admitted = policy.admit(req, peer);
  const verdict = admitted instanceof Promise ? await admitted : admitted;
  if (verdict.kind === 'close') {
    socket.destroy();
    return 'close';
  }
  if (verdict.kind === 'refuse') return sendLocalReply(verdict.reply);
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
  const outcome = await pooledExchange(upstream, request, socket, (h) => passedOnHeadText(h, closeAfter || h.framing.type === 'close'));
  const done = settled(outcome, socket, closeAfter, (status, flags, bytes) => finish(status, flags, bytes));
  if (done) return done;
  return sendLocalReply(applicationFailure(outcome));
}
