// A measurement, not a proxy: an HTTP/2 relay on core/h2's connection, with no Node `Http2Stream`
// per call, to learn what a sidecar built that way could reach for gRPC (issue 13), against the
// bare pair of Node http2 relays in bench/node-baselines.ts. What the protocol asks is done (each
// connection's flow control both ways, stream states, the checks on frames and header blocks),
// and what a sidecar must do per call: every header block is decoded and encoded again for the
// other connection, stream ids are mapped between the downstream connections and one shared
// upstream connection, a connection's frames of one turn leave in one write. What a sidecar also
// does and this leaves out: routing, policy, telemetry, retries, and back-pressure between the
// two connections (a stream's bytes are credited to its sender as soon as they are passed on).
//
//   node dist/bench/h2-frame-relay.js client LISTEN UPSTREAM_PORT DIR   (h2c in, TLS out)
//   node dist/bench/h2-frame-relay.js server LISTEN UPSTREAM_PORT DIR   (TLS in, h2c out)
import { readFileSync } from 'node:fs';
import { createServer, connect as tcpConnect, type Socket } from 'node:net';
import { connect as tlsConnect, createServer as createTlsServer } from 'node:tls';
import type { H2Connection, H2Handler } from '../core/h2/connection.js';
import { FrameLink } from '../proxy/h2/frame-link.js';

/** A connection on a socket (the sidecar's FrameLink: one write per turn). */
function attach(socket: Socket, role: 'server' | 'client', on: Omit<H2Handler, 'output' | 'failed' | 'goaway' | 'writable'>, gone: () => void): H2Connection {
  socket.setNoDelay(true);
  return new FrameLink(socket, { role }, { ...on, writable: () => undefined, goaway: gone, gone }).conn;
}

function main(): void {
  const [mode, listen, target, dir] = process.argv.slice(2);
  let upstream: H2Connection | undefined;
  /** Upstream stream id -> the downstream connection and its stream id. */
  const calls = new Map<number, { down: H2Connection; stream: number }>();
  const up = (): H2Connection => {
    if (upstream && !upstream.isClosed) return upstream;
    const socket = mode === 'client' ? tlsConnect({ host: '127.0.0.1', port: Number(target), rejectUnauthorized: false, ALPNProtocols: ['h2'] }) : tcpConnect(Number(target), '127.0.0.1');
    const conn: H2Connection = attach(
      socket,
      'client',
      {
        headers(id, fields, end) {
          const call = calls.get(id);
          if (!call) return;
          if (end) calls.delete(id);
          call.down.sendHeaders(call.stream, fields, end);
        },
        data(id, chunk, end) {
          const call = calls.get(id);
          conn.consumed(id, chunk.length);
          if (!call) return;
          if (end) calls.delete(id);
          call.down.sendData(call.stream, chunk, end);
        },
        reset(id) {
          const call = calls.get(id);
          calls.delete(id);
          call?.down.reset(call.stream, 'CANCEL');
        },
      },
      () => {
        if (upstream === conn) upstream = undefined;
      },
    );
    return (upstream = conn);
  };
  const serve = (socket: Socket) => {
    /** Downstream stream id -> upstream stream id. */
    const ids = new Map<number, number>();
    const down: H2Connection = attach(
      socket,
      'server',
      {
        headers(stream, fields, end, role) {
          if (role === 'trailers') {
            const id = ids.get(stream);
            ids.delete(stream);
            if (id !== undefined) up().sendHeaders(id, fields, true);
            return;
          }
          // Where a sidecar routes: the authority, read once.
          if (!fields.some((f) => f.name === ':authority')) return down.reset(stream, 'PROTOCOL_ERROR');
          const upstreamConn = up();
          const id = upstreamConn.request(fields, end);
          calls.set(id, { down, stream });
          if (!end) ids.set(stream, id);
        },
        data(stream, chunk, end) {
          down.consumed(stream, chunk.length);
          const id = ids.get(stream);
          if (id === undefined) return;
          if (end) ids.delete(stream);
          up().sendData(id, chunk, end);
        },
        reset(stream) {
          const id = ids.get(stream);
          ids.delete(stream);
          if (id !== undefined) up().reset(id, 'CANCEL');
        },
      },
      () => undefined,
    );
  };
  if (mode === 'client') createServer(serve).listen(Number(listen), '127.0.0.1');
  else createTlsServer({ key: readFileSync(`${dir}/key.pem`), cert: readFileSync(`${dir}/cert.pem`), ALPNProtocols: ['h2'] }, serve).listen(Number(listen), '127.0.0.1');
}

main();
