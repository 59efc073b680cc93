// HTTP/2 rapid reset (CVE-2023-44487): a client opens streams and cancels them at once, so the
// proxy does work for requests nobody waits for. As Envoy does, a session whose client has
// cancelled at least 100 streams, and more than half of all it opened, is told to calm down
// (GOAWAY ENHANCE_YOUR_CALM) and closed. Streams are also capped per session.
import { constants, type Http2Session, type ServerHttp2Stream } from 'node:http2';

const MIN_RESETS = 100;

/** Settings for servers that take HTTP/2 from clients. */
export const SERVER_SETTINGS = { maxConcurrentStreams: 256 };

/** Counts a stream; call for every stream the session's client opens. */
export function watchStream(stream: ServerHttp2Stream, onAbuse: (session: Http2Session) => void): void {
  const session = stream.session;
  if (!session) return;
  const state = counters.get(session) ?? { opened: 0, reset: 0 };
  counters.set(session, state);
  state.opened++;
  stream.once('aborted', () => {
    // The client cancelled the stream before the answer was complete. Streams the sidecar resets
    // itself (an upstream broke off: INTERNAL_ERROR, REFUSED_STREAM) do not count against it.
    if (stream.rstCode !== constants.NGHTTP2_CANCEL) return;
    state.reset++;
    if (state.reset >= MIN_RESETS && state.reset * 2 > state.opened && !session.closed && !session.destroyed) {
      session.goaway(constants.NGHTTP2_ENHANCE_YOUR_CALM);
      session.destroy();
      onAbuse(session);
    }
  });
}

const counters = new WeakMap<Http2Session, { opened: number; reset: number }>();
