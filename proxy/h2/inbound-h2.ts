// HTTP/2 and gRPC streams at the server sidecar: the decisions every inbound request gets, then
// to the application over h2c when its port speaks http2 or grpc, or as one HTTP/1.1 request.
import { constants, type IncomingHttpHeaders, type IncomingHttpStatusHeader, type ServerHttp2Stream } from 'node:http2';
import type { TLSSocket } from 'node:tls';
import type { Pool } from 'undici';
import { inboundLabels, peerIdentity, type InboundPolicy, type Verdict } from '../inbound-policy.js';
import type { RuntimeConfig } from '../runtime-config.js';
import type { ActiveSpan, Tracer } from '../tracer.js';
import type { H2Sessions } from './sessions.js';
import { ReplayableBody } from './replayable-body.js';
import { whenDone, type LocalReply } from '../pipeline/filter.js';
import { applicationFailure } from '../pipeline/local-replies.js';
import { RESPONSE_FLAGS, type ResponseFlag } from '../pipeline/response-flags.js';
import { noAnswer } from '../attempt-outcome.js';
import { streamAttempt } from './stream-attempt.js';
import { isGrpc, renderLocalReply, nextHopHeaders, responseHeaders, streamRequest } from './streams.js';

export interface InboundStreamContext {
  policy: InboundPolicy;
  deps: { config(): RuntimeConfig | undefined; tracer?: Tracer; appHost: string; appPort: number };
  /** The h2c session to the application. */
  appH2: H2Sessions;
  /** Node's HTTP/1.1 client to the application. */
  appPool(): Pool;
}

export function handleInboundStream(ctx: InboundStreamContext, stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void {
  const started = performance.now();
  const cfg = ctx.deps.config();
  const me = cfg?.snapshot.proxy;
  const socket = stream.session?.socket as TLSSocket | undefined;
  const peer = socket?.encrypted ? peerIdentity(socket) : undefined;
  const req = streamRequest(stream, headers);
  const grpc = isGrpc(headers);
  const labels = inboundLabels(cfg, peer, req.headers);
  labels.request_protocol = grpc ? 'grpc' : 'http';
  let span: ActiveSpan | undefined;
  const finish = (status: number, flags: ResponseFlag, resBytes: number, extra?: Record<string, unknown>) => ctx.policy.record(req, labels, started, span, peer, status, flags, resBytes, extra);
  const sendLocalReply = (r: LocalReply) => {
    const wire = renderLocalReply(stream, grpc, r);
    labels.grpc_response_status = wire.grpcStatus;
    finish(wire.status, r.flags, Buffer.byteLength(r.body), r.details);
  };
  whenDone(ctx.policy.admit(req, peer), go);

  function go(verdict: Verdict): void {
    if (verdict.kind === 'close') return void stream.close(constants.NGHTTP2_REFUSED_STREAM);
    if (verdict.kind === 'refuse') return sendLocalReply(verdict.reply);
    span = ctx.deps.tracer?.begin('server', `${req.headers.host ?? me?.service ?? ''}/*`, req.headers, verdict.headers);
    const method = req.method ?? 'GET';
    const protocol = cfg?.snapshot.inbound.ports[0]?.protocol;
    if (protocol === 'http2' || protocol === 'grpc') {
      const host = ctx.deps.appHost.includes(':') ? `[${ctx.deps.appHost}]` : ctx.deps.appHost;
      // The body goes on as it arrives (nothing kept: no retries inbound).
      void streamAttempt(
        stream,
        new ReplayableBody(stream, 0),
        () => ctx.appH2.get('app', `http://${host}:${ctx.deps.appPort}`).request(nextHopHeaders(method, verdict.forwardPath, verdict.headers, headers.te)),
        Infinity,
        () => true,
        () => undefined,
      ).then((o) => {
        if (!o.relayed) return sendLocalReply(applicationFailure(o));
        labels.grpc_response_status = o.grpcStatus ?? '';
        finish(o.status, o.status === 0 ? RESPONSE_FLAGS.DOWNSTREAM_CONNECTION_TERMINATION : o.protocolError ? RESPONSE_FLAGS.UPSTREAM_PROTOCOL_ERROR : RESPONSE_FLAGS.NONE, o.bytes);
      });
      return;
    }
    // An HTTP/1.1 application behind an HTTP/2 caller: the stream becomes one request.
    const { host: _host, ...rest } = verdict.headers;
    ctx
      .appPool()
      .request({
        method: method as 'GET',
        path: verdict.forwardPath,
        headers: { ...rest, host: String(req.headers.host ?? '') } as Record<string, string>,
        body: method === 'GET' || method === 'HEAD' ? null : stream,
      })
      .then((res) => {
        if (stream.destroyed) return void res.body.dump();
        stream.respond({ ':status': res.statusCode, ...responseHeaders(res.headers as IncomingHttpHeaders & IncomingHttpStatusHeader) });
        let bytes = 0;
        res.body.on('data', (c: Buffer) => (bytes += c.length));
        res.body.pipe(stream);
        res.body.once('end', () => finish(res.statusCode, RESPONSE_FLAGS.NONE, bytes));
        res.body.once('error', () => {
          stream.close(constants.NGHTTP2_INTERNAL_ERROR);
          finish(res.statusCode, RESPONSE_FLAGS.UPSTREAM_PROTOCOL_ERROR, bytes);
        });
      })
      .catch((err: Error) => sendLocalReply(applicationFailure(noAnswer(err))));
  }
}
