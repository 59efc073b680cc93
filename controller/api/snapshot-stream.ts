// The snapshot stream: one long response per proxy that carries each new snapshot as a frame
// (core/snapshot/stream-frames.ts), as an xDS stream does. A change costs the controller one
// write per proxy, where the long poll (GET /v1/snapshots) costs a whole request: its parsing,
// authentication, routing and a new watch, on both sides, for every proxy on every change.
// The proxy acknowledges what it applied in the request body; a frame it cannot apply, it
// answers by opening a new stream that names the version it holds.
import { MeshError } from '../../core/errors.js';
import { AckDecoder, HEARTBEAT_FRAME, STREAM_CONTENT_TYPE, snapshotFrameHead } from '../../core/snapshot/stream-frames.js';
import type { ProxyState } from '../snapshots/hub.js';
import type { ApiDeps } from './deps.js';
import { acceptsGzip, type GzipParts } from './gzip-parts.js';
import { heartbeatOf, proxyRef, recordPush, waitOf } from './watch-params.js';
import type { Router } from './router.js';
import { SLICE_BYTES, writeSliced } from './sliced-body.js';

const HEARTBEAT_BYTES = Buffer.from(HEARTBEAT_FRAME);

export function registerSnapshotStream(router: Router, d: ApiDeps, gzip: GzipParts): void {
  router.add('POST', '/v1/snapshots/stream', 'workload', (ctx) => {
    const ref = proxyRef(ctx);
    // A stream here would end at once; the 503 sends the proxy to its next controller now (a
    // connection kept alive from before the drain still reaches this one).
    if (d.hub.isDraining) throw new MeshError('UNAVAILABLE', 'this controller is draining; ask the next one');
    const { req, res } = ctx;
    // What the proxy holds, as far as this stream knows: what it named, then what it was sent.
    let held = ctx.query.get('version') ?? undefined;
    const heartbeatMs = heartbeatOf(ctx.query.get('heartbeat'));
    // The stream ends after `wait` (at most the server's longest watch; the proxy opens the next
    // naming what it holds, and nothing is sent again): a request's whole life stays bounded. Up
    // to a fifth of it earlier, at random: proxies that came together (a failover moves thousands
    // at once) would otherwise open their next streams together every `wait`, for good.
    const waitText = ctx.query.get('wait');
    const lifetimeMs = (waitText ? waitOf(waitText, d.maxWatchMs) : d.maxWatchMs) * (1 - Math.random() / 5);
    const deltaAccepted = ctx.query.get('delta') !== '0';
    const compressed = acceptsGzip(req.headers['accept-encoding']);

    res.writeHead(200, { 'content-type': STREAM_CONTENT_TYPE, 'cache-control': 'no-store', ...(heartbeatMs ? { 'x-mesh-heartbeat': String(heartbeatMs / 1000) } : {}) });
    // The proxy learns the stream is open now, not at the first change.
    res.flushHeaders();

    // A proxy that reads slower than changes come gets the newest once its socket drains, not
    // each one; a frame being written in slices holds the next back likewise.
    let blocked = false;
    // A frame is being written in slices: the stream ends after it, not inside it.
    let slicing = false;
    let ending = false;
    // A frame was written since the last heartbeat tick: the proxy heard from us, so the tick sends
    // nothing (a push to thousands of streams would otherwise add a heartbeat write for each in
    // four).
    let spoke = false;
    const unblock = () => {
      blocked = false;
      send(subscription.state);
    };
    const send = (state: ProxyState): void => {
      if (blocked || state.version === held || res.writableEnded) return;
      const { parts, kind, delta, bytes } = d.hub.partsToSend(state, held, deltaAccepted);
      recordPush(d, state, bytes);
      const body = compressed ? gzip.encode(parts, kind, state.proxyPiece) : parts.map((p) => Buffer.from(p));
      const length = body.reduce((n, b) => n + b.length, 0);
      const head = Buffer.from(snapshotFrameHead(state.version, delta, compressed, length));
      const frame = [head, ...body];
      held = state.version;
      spoke = true;
      // A whole snapshot (tens of KB) handed to TLS at once would size the connection's buffer for good (sliced-body.ts).
      if (head.length + length > SLICE_BYTES) {
        blocked = slicing = true;
        return writeSliced(res, frame, () => {
          slicing = false;
          if (ending) res.end();
          else unblock();
        });
      }
      // One write: each write of a chunked response is four (the size, the bytes, two line ends).
      const room = res.write(Buffer.concat(frame));
      if (!room) {
        blocked = true;
        res.once('drain', unblock);
      }
    };

    const end = (): void => {
      clearInterval(beat);
      clearTimeout(lifetime);
      subscription.close();
      if (slicing) ending = true;
      else if (!res.writableEnded) res.end();
    };
    const subscription = d.hub.subscribe(ref, held, { changed: send, drained: end });
    // Not inside a frame being written in slices (nor behind a full buffer: bytes are flowing), nor
    // after a frame: the longest silence stays under two intervals.
    const heartbeat = () => {
      if (blocked || spoke) spoke = false;
      else res.write(HEARTBEAT_BYTES);
    };
    const beat = heartbeatMs ? setInterval(heartbeat, heartbeatMs) : undefined;
    const lifetime = setTimeout(end, lifetimeMs);
    res.once('close', end);
    // The proxy's acknowledgements; anything else in the request body ends the stream (the
    // answer's status went out with its head, so the connection is closed).
    const acks = new AckDecoder();
    req.on('data', (chunk: Buffer) => {
      try {
        for (const version of acks.push(chunk)) d.hub.acknowledged(subscription.state, version);
      } catch {
        end();
        res.destroy();
      }
    });
    // The proxy closed its side: it is going.
    req.once('end', end);
    send(subscription.state);
    return { taken: true };
  });
}
