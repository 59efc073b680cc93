// HTTP/2 and gRPC from the application (h2c) at the client sidecar, relayed frame by frame on
// core/h2's connection state: no Node Http2Stream per call on either side (Node's path,
// outbound-h2.ts, costs about three times the CPU per gRPC call; bench/node-baselines.ts). Each
// stream gets what every outbound request gets (outbound-route.ts: the route, its filters,
// the weighted destination, connection-pool limits, retries with the body kept up to 1 MiB,
// timeouts, mirrors, ALLOW_ANY passthrough, local answers, telemetry) and is carried on one
// shared HTTP/2 connection per endpoint (client-links.ts): over mTLS (ALPN h2) to its sidecar,
// TLS where a DestinationRule originates it, h2c otherwise.
import type { OutgoingHttpHeaders } from 'node:http';
import type { Socket } from 'node:net';
import type { HeaderField } from '../../core/h2/hpack.js';
import { endpointKey } from '../../core/routing/balancer.js';
import { relayedFlag } from '../attempt-outcome.js';
import { forwardableHeaders } from '../http-util.js';
import { MAX_RETRY_BODY, type OutboundDeps } from '../outbound.js';
import {
  attempts,
  chooseCluster,
  defaultAuthority,
  editResponseHeaders,
  hashKey,
  labelEndpoint,
  outboundExchange,
  outboundLabels,
  outsideTheMesh,
  recordOutbound,
  requestedService,
  resolveRoute,
  upstreamRequest,
  viaOf,
  type FinishedRequest,
  type ListenerBinding,
  type RequestView,
  type Target,
  type Via,
} from '../outbound-route.js';
import { runFilters, whenDone, type LocalReply } from '../pipeline/filter.js';
import { NO_DESTINATION, passthroughFailure, upstreamFailure } from '../pipeline/local-replies.js';
import { routeChain } from '../pipeline/outbound-chain.js';
import type { OutboundExchange } from '../pipeline/outbound/route-filters.js';
import { RESPONSE_FLAGS, type ResponseFlag } from '../pipeline/response-flags.js';
import type { RuntimeConfig } from '../runtime-config.js';
import type { CompiledHttpRoute, OutboundService, WeightedCluster } from '../../core/snapshot/types.js';
import { FrameBody } from './frame-body.js';
import { frameAttempt, type FrameCall } from './frame-attempt.js';
import { headerFields, localReplyFields, requestFromFields } from './frame-heads.js';
import { mirrorFrames } from './frame-mirror.js';
import { FrameLink } from './frame-link.js';
import { FrameServerLinks } from './frame-server-links.js';
import { isGrpc, nextHopHeaders } from './streams.js';

export interface OutboundFramesOptions {
  binding?: ListenerBinding;
  idleTimeoutMs: number;
  /** An application's connection cut off for resetting most of its streams (rapid reset) or another flood. */
  onAbuse(peer: string | undefined): void;
}

/** The application's connection limits, as Node's path's (guard.ts). */
const MAX_CONCURRENT_STREAMS = 256;
const EMPTY = Buffer.alloc(0);

/** One stream of the application: the request, its body, and the upstream stream now carrying it. */
interface Call extends FrameCall {
  calls: Map<number, Call>;
  f: FinishedRequest;
  grpc: boolean;
}

export class OutboundFrames {
  private readonly conns: FrameServerLinks;

  constructor(
    private readonly deps: OutboundDeps,
    private readonly options: OutboundFramesOptions,
  ) {
    this.conns = new FrameServerLinks(options.idleTimeoutMs);
  }

  accept(socket: Socket): void {
    const calls = new Map<number, Call>();
    // How the connection came (captured with its original destination, or to a bound listener) and its addresses: the same for every stream.
    const via = viaOf(this.options.binding, socket);
    const addresses = { remoteAddress: socket.remoteAddress, remotePort: socket.remotePort, localAddress: socket.localAddress, localPort: socket.localPort };
    const link: FrameLink = new FrameLink(
      socket,
      { role: 'server', maxConcurrentStreams: MAX_CONCURRENT_STREAMS },
      {
        headers: (id, fields, end, role) => {
          if (role === 'request') return this.request(link, calls, via, addresses, id, fields, end);
          const call = calls.get(id);
          if (call && !call.done) call.body.takeTrailers(fields);
        },
        data: (id, chunk, end) => {
          const call = calls.get(id);
          if (!call || call.done) return link.conn.consumed(id, chunk.length);
          call.body.take(chunk, end);
        },
        reset: (id) => this.callerGone(calls.get(id)),
        goaway: () => undefined,
        writable: (id) => this.callerWritable(calls.get(id)),
        drained: () => {
          for (const call of calls.values()) this.callerWritable(call);
        },
        gone: (err) => {
          this.conns.delete(link);
          if (err?.code === 'ENHANCE_YOUR_CALM') this.options.onAbuse(socket.remoteAddress);
          for (const call of [...calls.values()]) this.callerGone(call);
          calls.clear();
        },
      },
    );
    this.conns.add(link, socket);
  }

  /** No new streams (GOAWAY); open ones finish, then their connections close. */
  drain(): void {
    this.conns.drain();
  }

  close(): void {
    this.conns.close();
  }

  private request(down: FrameLink, calls: Map<number, Call>, via: Via, addresses: RequestView['socket'], stream: number, fields: HeaderField[], end: boolean): void {
    const deps = this.deps;
    const random = deps.random ?? Math.random;
    const cfg = deps.config();
    const req = requestFromFields(fields, addresses);
    const grpc = isGrpc(req.headers);
    const authority = String(req.headers.host || defaultAuthority(this.options.binding));
    const requested = requestedService(cfg, authority, via);
    const f: FinishedRequest = { req, authority, service: requested, labels: outboundLabels(cfg, requested), started: performance.now(), reqBytes: 0, span: undefined };
    f.labels.request_protocol = grpc ? 'grpc' : 'http';
    const resolved = resolveRoute(cfg, requested, req, authority, f);
    const passthrough = 'status' in resolved;
    const credit = (bytes: number) => down.conn.consumed(stream, bytes);
    const call: Call = {
      down,
      stream,
      calls,
      f,
      grpc,
      // Passthrough is never retried: nothing is kept.
      body: new FrameBody(credit, passthrough ? 0 : MAX_RETRY_BODY),
      up: undefined,
      abort: undefined,
      answered: 0,
      heldUp: 0,
      done: false,
    };
    calls.set(stream, call);
    if (end) call.body.take(EMPTY, true);

    if ('status' in resolved) {
      const target = outsideTheMesh(deps, cfg, requested, authority, via, resolved, f.labels);
      if ('status' in target) return this.localReply(call, target);
      // ALLOW_ANY: the stream, as it came, over h2c to the host it names (or was dialled to).
      const head = headerFields(nextHopHeaders(req.method ?? 'GET', req.url ?? '/', forwardableHeaders(req.headers), req.headers.te));
      void frameAttempt(
        call,
        () => deps.pool.h2PassthroughLink(target.host, target.port),
        head,
        Infinity,
        () => true,
        undefined,
      ).then((o) => {
        f.reqBytes = call.body.bytes;
        f.labels.grpc_response_status = o.grpcStatus ?? '';
        if (o.relayed) return this.finish(call, o.status, relayedFlag(o), o.bytes, { upstream_host: `${target.host}:${target.port}` });
        this.localReply(call, passthroughFailure(target, o));
      });
      return;
    }
    const { cfg: current, service, route, url } = resolved;
    // The route's filters (pipeline/outbound-chain.ts), then the router.
    const x = outboundExchange(req, authority, service, route, url, random);
    whenDone(runFilters(routeChain(route, deps.tracer).filters, x), (out) => {
      f.span = x.span;
      if (call.done) return;
      if (out === 'close') {
        down.conn.reset(stream, 'REFUSED_STREAM');
        return this.forget(call);
      }
      if (out) return this.localReply(call, out);
      if (route.action.type !== 'route') return this.localReply(call, NO_DESTINATION);
      void this.route(call, current, service, route, url, route.action.destinations, x);
    });
  }

  private async route(call: Call, cfg: RuntimeConfig, service: OutboundService, route: CompiledHttpRoute, url: Target, destinations: WeightedCluster[], x: OutboundExchange): Promise<void> {
    const deps = this.deps;
    const random = deps.random ?? Math.random;
    const { f } = call;
    const req = f.req;
    const chosen = chooseCluster(deps, cfg, destinations, f, random);
    if ('status' in chosen) return this.localReply(call, chosen);
    const { dest, entry } = chosen;
    const { method, path, headers } = upstreamRequest(cfg, route, dest, entry.cluster, req, url, service, undefined);
    const head = headerFields(nextHopHeaders(method, path, headers, req.headers.te));
    // The answer's head is rebuilt only where a rule or a filter edits it.
    const edits = route.headers?.response || dest.headers?.response || x.responseHooks.length > 0;
    const edit = edits ? (h: OutgoingHttpHeaders) => editResponseHeaders(h, route, dest, x.responseHooks) : undefined;
    for (const cluster of x.mirrorClusters ?? []) void mirrorFrames(deps.pool, cfg, cluster, head, call.body, random);
    const result = await attempts(
      deps,
      entry,
      route,
      dest.cluster,
      hashKey(entry.cluster.lb, req),
      () => call.body.replayable,
      random,
      (e) => labelEndpoint(cfg, f.labels, entry, e),
      (endpoint, timeoutMs, keep) => frameAttempt(call, () => deps.pool.h2Link(entry.cluster, endpoint), head, timeoutMs, keep, edit),
    );
    f.reqBytes = call.body.bytes;
    if (call.done) return;
    if (result.relayed) {
      f.labels.grpc_response_status = result.grpcStatus ?? '';
      return this.finish(call, result.status, relayedFlag(result), result.bytes, result.endpoint ? { upstream_host: endpointKey(result.endpoint) } : {});
    }
    this.localReply(call, upstreamFailure(result));
  }

  // The caller's side.

  private callerGone(call: Call | undefined): void {
    if (!call || call.done) return;
    call.body.cutOff();
    call.abort?.();
    this.finish(call, call.answered, RESPONSE_FLAGS.DOWNSTREAM_CONNECTION_TERMINATION, 0);
  }

  /** The caller's stream took what was queued: the upstream gets its window back. */
  private callerWritable(call: Call | undefined): void {
    if (!call || call.heldUp === 0 || !call.up || call.down.backlogged) return;
    call.up.link.consumed(call.up.id, call.heldUp);
    call.heldUp = 0;
  }

  // Endings.

  /** A local answer (localReplyFields: plain text, or a trailers-only gRPC status); a stream already answered is reset. */
  private localReply(call: Call, r: LocalReply): void {
    if (call.done) return;
    if (call.answered) {
      call.down.conn.reset(call.stream, 'INTERNAL_ERROR');
      return this.finish(call, call.answered, r.flags, 0, r.details);
    }
    const wire = localReplyFields(call.grpc, r);
    call.f.labels.grpc_response_status = wire.grpcStatus;
    call.down.conn.sendHeaders(call.stream, wire.head, wire.body === undefined);
    if (wire.body !== undefined) call.down.conn.sendData(call.stream, wire.body, true);
    this.finish(call, wire.status, r.flags, Buffer.byteLength(r.body), r.details);
  }

  private finish(call: Call, status: number, flags: ResponseFlag, bytes: number, extra?: Record<string, unknown>): void {
    if (call.done) return;
    call.f.reqBytes = call.body.bytes;
    recordOutbound(this.deps, call.f, status, flags, bytes, extra);
    this.forget(call);
  }

  private forget(call: Call): void {
    call.done = true;
    call.body.finish();
    const up = call.up;
    if (up) {
      // Answer bytes not yet credited go back to their connection; a stream whose request side
      // is still open upstream (the answer came first, or the caller went) is reset.
      if (call.heldUp > 0) up.link.consumed(up.id, call.heldUp);
      up.link.cancel(up.id);
    }
    call.heldUp = 0;
    // An answer that came whole before the application's request ended: it stops sending.
    call.down.conn.stopPeerAfterAnswer(call.stream);
    call.calls.delete(call.stream);
    this.conns.streamEnded(call.down);
  }
}
