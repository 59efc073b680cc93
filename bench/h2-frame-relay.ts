// A measurement, not a proxy: an HTTP/2 relay that works on frames, with no Node `Http2Stream`
// per call, to learn what a sidecar built that way could reach for gRPC (issue 13), against the
// bare pair of Node http2 relays in bench/node-baselines.ts. What a sidecar must do per call is
// done: every header block is decoded (HPACK, core/h2) and encoded again for the other
// connection, stream ids are mapped between the downstream connections and one shared upstream
// connection, frames are coalesced into one write per connection per turn. What a sidecar also
// needs and this leaves out: honouring the peers' flow-control windows (it advertises large
// windows and credits at once), stream limits, GOAWAY, priorities, and the checks on a
// stream's state (the frames and header blocks themselves are checked by core/h2).
//
//   node dist/bench/h2-frame-relay.js client LISTEN UPSTREAM_PORT DIR   (h2c in, TLS out)
//   node dist/bench/h2-frame-relay.js server LISTEN UPSTREAM_PORT DIR   (TLS in, h2c out)
import { readFileSync } from 'node:fs';
import { createServer, connect as tcpConnect, type Socket } from 'node:net';
import { connect as tlsConnect, createServer as createTlsServer } from 'node:tls';
import { CLIENT_PREFACE, DEFAULT_MAX_FRAME_SIZE, FLAG, FRAME, FrameReader, frameBytes, headerFrames, settingsPayload, u32, type Frame } from '../core/h2/frames.js';
import { HpackDecoder, HpackEncoder, type HeaderField } from '../core/h2/hpack.js';

const WINDOW = 16 * 1024 * 1024;

type Peer = {
  headers(stream: number, list: HeaderField[], end: boolean): void;
  data(stream: number, payload: Buffer, end: boolean): void;
  reset(stream: number, code: number): void;
};

/** One HTTP/2 connection's frames, either side of it. */
class Connection {
  private readonly reader: FrameReader;
  private readonly decoder = new HpackDecoder();
  private readonly encoder = new HpackEncoder();
  private pending: Buffer[] = [];
  private scheduled = false;
  private block: { stream: number; end: boolean; parts: Buffer[] } | undefined;
  private unacked = 0;
  peer!: Peer;

  constructor(
    private readonly socket: Socket,
    asServer: boolean,
  ) {
    this.reader = new FrameReader(asServer);
    socket.setNoDelay(true);
    if (!asServer) this.send(CLIENT_PREFACE);
    this.send(frameBytes(FRAME.SETTINGS, 0, 0, settingsPayload({ INITIAL_WINDOW_SIZE: WINDOW, ENABLE_PUSH: 0 })));
    this.send(frameBytes(FRAME.WINDOW_UPDATE, 0, 0, u32(WINDOW - 65_535)));
    socket.on('data', (chunk: Buffer) => {
      try {
        for (const f of this.reader.push(chunk)) this.frame(f);
      } catch {
        socket.destroy();
      }
    });
    socket.on('error', () => socket.destroy());
  }

  /** Frames of one turn leave in one write. */
  private send(b: Buffer): void {
    this.pending.push(b);
    if (this.scheduled) return;
    this.scheduled = true;
    process.nextTick(() => {
      this.scheduled = false;
      const out = this.pending.length === 1 ? this.pending[0] : Buffer.concat(this.pending);
      this.pending = [];
      this.socket.write(out);
    });
  }

  sendHeaders(stream: number, list: HeaderField[], end: boolean): void {
    for (const f of headerFrames(stream, this.encoder.encode(list), end, DEFAULT_MAX_FRAME_SIZE)) this.send(f);
  }

  sendData(stream: number, payload: Buffer, end: boolean): void {
    let off = 0;
    do {
      const last = off + DEFAULT_MAX_FRAME_SIZE >= payload.length;
      this.send(frameBytes(FRAME.DATA, last && end ? FLAG.END_STREAM : 0, stream, payload.subarray(off, off + DEFAULT_MAX_FRAME_SIZE)));
      off += DEFAULT_MAX_FRAME_SIZE;
    } while (off < payload.length);
  }

  sendReset(stream: number, code: number): void {
    this.send(frameBytes(FRAME.RST_STREAM, 0, stream, u32(code)));
  }

  private frame({ type, flags, stream, payload }: Frame): void {
    switch (type) {
      case FRAME.DATA:
        // Credit at once, for the connection (streams got windows larger than a call).
        this.unacked += payload.length;
        if (this.unacked > WINDOW / 2) {
          this.send(frameBytes(FRAME.WINDOW_UPDATE, 0, 0, u32(this.unacked)));
          this.unacked = 0;
        }
        this.peer.data(stream, payload, (flags & FLAG.END_STREAM) !== 0);
        return;
      case FRAME.HEADERS:
        this.block = { stream, end: (flags & FLAG.END_STREAM) !== 0, parts: [payload] };
        if (flags & FLAG.END_HEADERS) this.headersDone();
        return;
      case FRAME.CONTINUATION:
        this.block?.parts.push(payload);
        if (flags & FLAG.END_HEADERS) this.headersDone();
        return;
      case FRAME.RST_STREAM:
        this.peer.reset(stream, payload.readUInt32BE(0));
        return;
      case FRAME.SETTINGS:
        if (!(flags & FLAG.ACK)) this.send(frameBytes(FRAME.SETTINGS, FLAG.ACK, 0));
        return;
      case FRAME.PING:
        if (!(flags & FLAG.ACK)) this.send(frameBytes(FRAME.PING, FLAG.ACK, 0, payload));
        return;
      default:
        return; // PRIORITY, WINDOW_UPDATE, GOAWAY: not honoured (see the top of the file)
    }
  }

  private headersDone(): void {
    const { stream, end, parts } = this.block!;
    this.block = undefined;
    this.peer.headers(stream, this.decoder.decode(parts.length === 1 ? parts[0] : Buffer.concat(parts)), end);
  }
}

function main(): void {
  const [mode, listen, target, dir] = process.argv.slice(2);
  let upstream: Connection | undefined;
  let nextId = 1;
  /** Upstream stream id -> the downstream connection and its stream id. */
  const calls = new Map<number, { down: Connection; stream: number }>();
  const up = (): Connection => {
    if (upstream) return upstream;
    const socket = mode === 'client' ? tlsConnect({ host: '127.0.0.1', port: Number(target), rejectUnauthorized: false, ALPNProtocols: ['h2'] }) : tcpConnect(Number(target), '127.0.0.1');
    const conn = new Connection(socket, false);
    conn.peer = {
      headers: (id, list, end) => {
        const call = calls.get(id);
        if (!call) return;
        if (end) calls.delete(id);
        call.down.sendHeaders(call.stream, list, end);
      },
      data: (id, payload, end) => {
        const call = calls.get(id);
        if (!call) return;
        if (end) calls.delete(id);
        call.down.sendData(call.stream, payload, end);
      },
      reset: (id, code) => {
        const call = calls.get(id);
        calls.delete(id);
        call?.down.sendReset(call.stream, code);
      },
    };
    socket.on('close', () => (upstream = undefined));
    return (upstream = conn);
  };
  const serve = (socket: Socket) => {
    const down = new Connection(socket, true);
    /** Downstream stream id -> upstream stream id. */
    const ids = new Map<number, number>();
    down.peer = {
      headers: (stream, list, end) => {
        // Where a sidecar routes: the authority and path, read once.
        let authority = '';
        for (const h of list) if (h.name === ':authority') authority = h.value;
        if (!authority) return down.sendReset(stream, 1);
        const id = nextId;
        nextId += 2;
        ids.set(stream, id);
        calls.set(id, { down, stream });
        up().sendHeaders(id, list, end);
        if (end) ids.delete(stream);
      },
      data: (stream, payload, end) => {
        const id = ids.get(stream);
        if (id === undefined) return;
        if (end) ids.delete(stream);
        up().sendData(id, payload, end);
      },
      reset: (stream, code) => {
        const id = ids.get(stream);
        ids.delete(stream);
        if (id !== undefined) up().sendReset(id, code);
      },
    };
  };
  if (mode === 'client') createServer(serve).listen(Number(listen), '127.0.0.1');
  else createTlsServer({ key: readFileSync(`${dir}/key.pem`), cert: readFileSync(`${dir}/cert.pem`), ALPNProtocols: ['h2'] }, serve).listen(Number(listen), '127.0.0.1');
}

main();
