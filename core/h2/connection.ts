// One HTTP/2 connection's state (RFC 9113), either end of it, as pure logic: bytes in through
// `receive`, bytes out through `takeOutput`, messages to and from a handler. It keeps the
// streams' states and both directions' flow-control windows, queues DATA the peer has no window
// for (and anything sent after it on the stream, so that header blocks are encoded in the order
// they leave), and refuses what breaks the protocol: a stream error resets the stream
// (RST_STREAM), a connection error ends the connection (GOAWAY). A relay built on it holds no
// Node stream per call; this is the part of Node's http2 a sidecar needs, and no more.
import { H2_ERROR_CODES, H2ProtocolError, type H2ErrorName } from './errors.js';
import { CLIENT_PREFACE, DEFAULT_MAX_FRAME_SIZE, FLAG, FRAME, FrameReader, frameBytes, headerFrames, settingsPayload, SETTING, u32, type Frame } from './frames.js';
import { malformed } from './header-rules.js';
import { HpackDecoder, HpackEncoder, type HeaderField } from './hpack.js';

export type HeaderBlockRole = 'request' | 'informational' | 'response' | 'trailers';

export interface H2Handler {
  /** A whole header block of `stream`, checked: a request (server side), an interim or final response (client side), or trailers. */
  headers(stream: number, fields: HeaderField[], endStream: boolean, role: HeaderBlockRole): void;
  data(stream: number, chunk: Buffer, endStream: boolean): void;
  /** The stream ended abnormally: reset by the peer, or by this end for a stream error (`byPeer` false). */
  reset(stream: number, code: number, byPeer: boolean): void;
  /** The peer is going away: streams above `lastStream` were not processed. */
  goaway(code: number, lastStream: number): void;
  /** Output is waiting: take it with `takeOutput()` (once per turn is enough). */
  output(): void;
  /** All that was queued on the stream has been sent: more may follow. */
  writable(stream: number): void;
  /** A connection error: GOAWAY is in the output, nothing more is read or sent after it. */
  failed(err: H2ProtocolError): void;
}

export interface H2ConnectionOptions {
  role: 'server' | 'client';
  /** Streams the peer may have open at once (server side). */
  maxConcurrentStreams?: number;
  /** Each stream's receive window this end advertises. */
  initialWindowSize?: number;
  /** The connection's receive window. */
  connectionWindowSize?: number;
  maxHeaderListSize?: number;
  /** A compressed header block longer than this ends the connection (a CONTINUATION flood). */
  maxHeaderBlockBytes?: number;
}

const MAX_WINDOW = 2 ** 31 - 1;
const DEFAULT_WINDOW = 65_535;
/** As Envoy: a peer that cancelled at least this many streams, and more than half of those it opened, is abusing the server (CVE-2023-44487). */
const RAPID_RESET_MIN = 100;
/** Empty DATA frames that end nothing, in a row, past which a peer is wasting the server's time (CVE-2019-9518). */
const MAX_EMPTY_DATA = 100;

type Queued = { data: Buffer; end: boolean } | { fields: HeaderField[]; end: boolean };

interface StreamState {
  localClosed: boolean;
  remoteClosed: boolean;
  sendWindow: number;
  recvWindow: number;
  /** Bytes consumed and not yet credited back to the peer. */
  uncredited: number;
  queue: Queued[];
  /** Header blocks received. */
  blocks: number;
  finalResponse: boolean;
  /** A client's stream that asked with HEAD: its answer's content-length describes no body. */
  head: boolean;
  contentLength: number | undefined;
  received: number;
  /** This end answered (server side): a cancel after it is no abuse. */
  answered: boolean;
  /** The answer is whole: once it has all gone, a peer still sending is told to stop (stopPeerAfterAnswer). */
  stopPeer: boolean;
}

export class H2Connection {
  private readonly reader: FrameReader;
  private readonly decoder: HpackDecoder;
  private readonly encoder = new HpackEncoder();
  private readonly streams = new Map<number, StreamState>();
  private out: Buffer[] = [];
  private readonly role: 'server' | 'client';
  private readonly localWindow: number;
  /** A new stream's receive window: the default until the peer acknowledges the SETTINGS that lower it (it may send within the default before). */
  private recvInitial: number;
  private readonly localConnectionWindow: number;
  private readonly maxConcurrent: number;
  private readonly maxBlock: number;
  // The peer's settings.
  private peerInitialWindow = DEFAULT_WINDOW;
  private peerMaxFrame = DEFAULT_MAX_FRAME_SIZE;
  private peerMaxConcurrent = Infinity;
  private connSendWindow = DEFAULT_WINDOW;
  private connRecvWindow: number;
  private connUncredited = 0;
  /** The highest stream id the peer opened (server side) or this end opened (client side). */
  private lastPeerStream = 0;
  private nextLocalStream = 1;
  private block: { stream: number; end: boolean; parts: Buffer[]; bytes: number } | undefined;
  private opened = 0;
  private cancelled = 0;
  private emptyData = 0;
  private closed = false;
  private goingAway = false;

  constructor(
    options: H2ConnectionOptions,
    private readonly handler: H2Handler,
  ) {
    this.role = options.role;
    this.localWindow = options.initialWindowSize ?? 1024 * 1024;
    this.recvInitial = Math.max(this.localWindow, DEFAULT_WINDOW);
    this.localConnectionWindow = options.connectionWindowSize ?? 16 * 1024 * 1024;
    this.connRecvWindow = this.localConnectionWindow;
    this.maxConcurrent = options.maxConcurrentStreams ?? 256;
    const maxHeaderListSize = options.maxHeaderListSize ?? 64 * 1024;
    this.maxBlock = options.maxHeaderBlockBytes ?? maxHeaderListSize;
    this.decoder = new HpackDecoder({ maxHeaderListSize });
    this.reader = new FrameReader(this.role === 'server');
    if (this.role === 'client') this.emit(CLIENT_PREFACE);
    const settings = {
      ENABLE_PUSH: 0,
      INITIAL_WINDOW_SIZE: this.localWindow,
      MAX_HEADER_LIST_SIZE: maxHeaderListSize,
      ...(this.role === 'server' ? { MAX_CONCURRENT_STREAMS: this.maxConcurrent } : {}),
    };
    this.emit(frameBytes(FRAME.SETTINGS, 0, 0, settingsPayload(settings)));
    if (this.localConnectionWindow > DEFAULT_WINDOW) this.emit(frameBytes(FRAME.WINDOW_UPDATE, 0, 0, u32(this.localConnectionWindow - DEFAULT_WINDOW)));
  }

  /** Streams open now. */
  get size(): number {
    return this.streams.size;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** The bytes to write, all that is waiting, or undefined. */
  takeOutput(): Buffer | undefined {
    if (this.out.length === 0) return undefined;
    const bytes = this.out.length === 1 ? this.out[0] : Buffer.concat(this.out);
    this.out = [];
    return bytes;
  }

  receive(chunk: Buffer): void {
    if (this.closed) return;
    try {
      for (const f of this.reader.push(chunk)) {
        this.frame(f);
        if (this.closed) return;
      }
    } catch (err) {
      if (err instanceof H2ProtocolError) this.fail(err);
      else throw err;
    }
  }

  /** Client side: whether the peer allows another stream now. */
  canOpen(): boolean {
    return !this.closed && !this.goingAway && this.streams.size < this.peerMaxConcurrent && this.nextLocalStream <= MAX_WINDOW;
  }

  /** Client side: a new stream with its request head; its id. */
  request(fields: HeaderField[], endStream: boolean): number {
    if (this.role !== 'client') throw new Error('only a client opens streams');
    if (!this.canOpen()) throw new H2ProtocolError('REFUSED_STREAM', 'the connection takes no more streams', 'stream');
    const id = this.nextLocalStream;
    this.nextLocalStream += 2;
    const s = this.newStream();
    s.head = fields.some((f) => f.name === ':method' && f.value === 'HEAD');
    this.streams.set(id, s);
    this.enqueue(id, s, { fields, end: endStream });
    return id;
  }

  /** A header block on an open stream: the answer's head (server side) or trailers (ending the stream). */
  sendHeaders(stream: number, fields: HeaderField[], endStream: boolean): void {
    const s = this.streams.get(stream);
    if (!s || s.localClosed) return;
    s.answered = true;
    this.enqueue(stream, s, { fields, end: endStream });
  }

  /** Sends at once what the windows allow and queues the rest; false when some waits (`writable` tells when it has gone). */
  sendData(stream: number, data: Buffer, endStream: boolean): boolean {
    const s = this.streams.get(stream);
    if (!s || s.localClosed) return true;
    return this.enqueue(stream, s, { data, end: endStream });
  }

  /**
   * The answer on `stream` is whole (its end is sent or queued). A peer still sending its request
   * is asked to stop, without error, once the answer has all gone: RST_STREAM NO_ERROR, as RFC
   * 9113 8.1 allows a server that answered first (a reset at once would drop queued DATA).
   */
  stopPeerAfterAnswer(stream: number): void {
    const s = this.streams.get(stream);
    if (!s || !s.localClosed || s.remoteClosed) return;
    s.stopPeer = true;
    this.closeIfDone(stream, s);
  }

  /** Ends a stream abnormally (a cancel, an upstream's failure). */
  reset(stream: number, code: H2ErrorName = 'CANCEL'): void {
    const s = this.streams.get(stream);
    if (!s || this.closed) return;
    this.streams.delete(stream);
    // Closed both ways with nothing queued (a handler of its last frame runs before it is
    // forgotten): nothing to reset. A RST_STREAM per finished stream would be a flood to the
    // peer, and Node's http2 server stops serving a connection that resets too many streams.
    if (s.localClosed && s.remoteClosed && s.queue.length === 0) return;
    this.emit(frameBytes(FRAME.RST_STREAM, 0, stream, u32(H2_ERROR_CODES[code])));
  }

  /** The reader of `stream` has taken `bytes`: the peer gets them back as window, in batches. */
  consumed(stream: number, bytes: number): void {
    this.creditConnection(bytes);
    const s = this.streams.get(stream);
    if (!s || s.remoteClosed) return;
    s.uncredited += bytes;
    if (s.uncredited >= this.localWindow / 2) {
      this.emit(frameBytes(FRAME.WINDOW_UPDATE, 0, stream, u32(s.uncredited)));
      s.recvWindow += s.uncredited;
      s.uncredited = 0;
    }
  }

  /** Drain: no new streams from the peer (those it opens after this are refused); open ones finish. */
  goaway(code: H2ErrorName = 'NO_ERROR'): void {
    if (this.closed || this.goingAway) return;
    this.goingAway = true;
    this.emit(frameBytes(FRAME.GOAWAY, 0, 0, Buffer.concat([u32(this.role === 'server' ? this.lastPeerStream : 0), u32(H2_ERROR_CODES[code])])));
  }

  private newStream(): StreamState {
    return {
      localClosed: false,
      remoteClosed: false,
      sendWindow: this.peerInitialWindow,
      recvWindow: this.recvInitial,
      uncredited: 0,
      queue: [],
      blocks: 0,
      finalResponse: false,
      head: false,
      contentLength: undefined,
      received: 0,
      answered: false,
      stopPeer: false,
    };
  }

  private emit(bytes: Buffer): void {
    const first = this.out.length === 0;
    this.out.push(bytes);
    if (first) this.handler.output();
  }

  private creditConnection(bytes: number): void {
    this.connUncredited += bytes;
    if (this.connUncredited >= this.localConnectionWindow / 2) {
      this.emit(frameBytes(FRAME.WINDOW_UPDATE, 0, 0, u32(this.connUncredited)));
      this.connRecvWindow += this.connUncredited;
      this.connUncredited = 0;
    }
  }

  private enqueue(id: number, s: StreamState, item: Queued): boolean {
    if (item.end) s.localClosed = true;
    s.queue.push(item);
    const done = s.queue.length === 1 ? this.flushStream(id, s) : false;
    this.closeIfDone(id, s);
    return done;
  }

  /** Sends the stream's queue as far as the windows allow; true when it is empty. */
  private flushStream(id: number, s: StreamState): boolean {
    while (s.queue.length > 0) {
      const item = s.queue[0];
      if ('fields' in item) {
        for (const f of headerFrames(id, this.encoder.encode(item.fields), item.end, this.peerMaxFrame)) this.emit(f);
        s.queue.shift();
        continue;
      }
      const room = Math.min(s.sendWindow, this.connSendWindow, this.peerMaxFrame);
      if (room <= 0 && item.data.length > 0) return false;
      const n = Math.min(room, item.data.length);
      const last = n === item.data.length;
      this.emit(frameBytes(FRAME.DATA, last && item.end ? FLAG.END_STREAM : 0, id, item.data.subarray(0, n)));
      s.sendWindow -= n;
      this.connSendWindow -= n;
      if (last) s.queue.shift();
      else item.data = item.data.subarray(n);
    }
    return true;
  }

  private flushAll(): void {
    for (const [id, s] of this.streams) {
      if (s.queue.length === 0 || this.connSendWindow <= 0) continue;
      if (this.flushStream(id, s)) {
        this.handler.writable(id);
        this.closeIfDone(id, s);
      }
    }
  }

  private closeIfDone(id: number, s: StreamState): void {
    if (!s.localClosed || s.queue.length > 0 || !(s.remoteClosed || s.stopPeer)) return;
    this.streams.delete(id);
    if (!s.remoteClosed) this.emit(frameBytes(FRAME.RST_STREAM, 0, id, u32(H2_ERROR_CODES.NO_ERROR)));
  }

  private fail(err: H2ProtocolError): void {
    if (this.closed) return;
    this.emit(frameBytes(FRAME.GOAWAY, 0, 0, Buffer.concat([u32(this.lastPeerStream), u32(err.wireCode), Buffer.from(err.message.slice(0, 200))])));
    this.closed = true;
    this.streams.clear();
    this.handler.failed(err);
  }

  private streamError(id: number, code: H2ErrorName): void {
    this.streams.delete(id);
    this.emit(frameBytes(FRAME.RST_STREAM, 0, id, u32(H2_ERROR_CODES[code])));
    this.handler.reset(id, H2_ERROR_CODES[code], false);
  }

  private frame(f: Frame): void {
    if (this.block && f.type !== FRAME.CONTINUATION) throw new H2ProtocolError('PROTOCOL_ERROR', `a ${f.type} frame inside a header block`);
    switch (f.type) {
      case FRAME.DATA:
        return this.onData(f);
      case FRAME.HEADERS:
        return this.onHeaders(f);
      case FRAME.CONTINUATION:
        return this.onContinuation(f);
      case FRAME.RST_STREAM:
        return this.onReset(f);
      case FRAME.SETTINGS:
        return this.onSettings(f);
      case FRAME.PING:
        if (!(f.flags & FLAG.ACK)) this.emit(frameBytes(FRAME.PING, FLAG.ACK, 0, f.payload));
        return;
      case FRAME.GOAWAY:
        return this.onGoaway(f);
      case FRAME.WINDOW_UPDATE:
        return this.onWindowUpdate(f);
      case FRAME.PUSH_PROMISE:
        throw new H2ProtocolError('PROTOCOL_ERROR', 'PUSH_PROMISE, with push disabled');
      default:
        return; // PRIORITY and unknown types: nothing to do (RFC 9113 5.3.2, 4.1)
    }
  }

  /**
   * The peer goes away. This end's streams above its last-stream-id were never processed there
   * (RFC 9113 6.8): they end now as refused (REFUSED_STREAM, by the peer), safe to try again
   * elsewhere, rather than waiting for an answer that will not come.
   */
  private onGoaway(f: Frame): void {
    this.goingAway = true;
    const lastStream = f.payload.readUInt32BE(0) & 0x7fffffff;
    this.handler.goaway(f.payload.readUInt32BE(4), lastStream);
    if (this.role !== 'client') return;
    for (const id of [...this.streams.keys()]) {
      if (id <= lastStream) continue;
      this.streams.delete(id);
      this.handler.reset(id, H2_ERROR_CODES.REFUSED_STREAM, true);
    }
  }

  /** A frame on a stream this end does not hold: idle (never opened) is a connection error; closed is ignored (it crossed a reset). */
  private idle(id: number): boolean {
    return this.role === 'server' ? id > this.lastPeerStream : id >= this.nextLocalStream;
  }

  private onData(f: Frame): void {
    if (f.payload.length > 0 || f.flags & FLAG.END_STREAM) this.emptyData = 0;
    else if (++this.emptyData > MAX_EMPTY_DATA) throw new H2ProtocolError('ENHANCE_YOUR_CALM', `${this.emptyData} empty DATA frames in a row`);
    this.connRecvWindow -= f.size;
    if (this.connRecvWindow < 0) throw new H2ProtocolError('FLOW_CONTROL_ERROR', 'DATA beyond the connection window');
    const s = this.streams.get(f.stream);
    if (!s && this.idle(f.stream)) throw new H2ProtocolError('PROTOCOL_ERROR', `DATA on idle stream ${f.stream}`);
    const refuse = this.dataRefused(f, s);
    if (refuse !== undefined || !s) {
      // Bytes nobody will consume (a stream that crossed a reset, or one refused now) still
      // count against the connection, and are given back at once.
      this.creditConnection(f.size);
      if (refuse) this.streamError(f.stream, refuse);
      return;
    }
    // Padding is never consumed by anyone: credited at once.
    if (f.size > f.payload.length) this.creditConnection(f.size - f.payload.length);
    s.recvWindow -= f.size;
    s.received += f.payload.length;
    const end = (f.flags & FLAG.END_STREAM) !== 0;
    if (end) s.remoteClosed = true;
    this.handler.data(f.stream, f.payload, end);
    if (end) this.closeIfDone(f.stream, s);
  }

  /** Why DATA on a stream this end holds is a stream error, if it is. */
  private dataRefused(f: Frame, s: StreamState | undefined): H2ErrorName | undefined {
    if (!s) return undefined;
    if (s.remoteClosed) return 'STREAM_CLOSED';
    if (s.recvWindow - f.size < 0) return 'FLOW_CONTROL_ERROR';
    // Before the request's or the final response's head.
    if (s.blocks === 0 || (this.role === 'client' && !s.finalResponse)) return 'PROTOCOL_ERROR';
    const received = s.received + f.payload.length;
    const end = (f.flags & FLAG.END_STREAM) !== 0;
    if (s.contentLength !== undefined && (received > s.contentLength || (end && received !== s.contentLength))) return 'PROTOCOL_ERROR';
    return undefined;
  }

  private onHeaders(f: Frame): void {
    if (this.role === 'server' && f.stream % 2 === 0) throw new H2ProtocolError('PROTOCOL_ERROR', `HEADERS on even stream ${f.stream} from a client`);
    this.block = { stream: f.stream, end: (f.flags & FLAG.END_STREAM) !== 0, parts: [f.payload], bytes: f.payload.length };
    if (f.payload.length > this.maxBlock) throw new H2ProtocolError('ENHANCE_YOUR_CALM', `a header block over ${this.maxBlock} bytes`);
    if (f.flags & FLAG.END_HEADERS) this.headerBlock();
  }

  private onContinuation(f: Frame): void {
    const block = this.block;
    if (!block || block.stream !== f.stream) throw new H2ProtocolError('PROTOCOL_ERROR', `CONTINUATION on stream ${f.stream} without its HEADERS`);
    block.parts.push(f.payload);
    block.bytes += f.payload.length;
    if (block.bytes > this.maxBlock) throw new H2ProtocolError('ENHANCE_YOUR_CALM', `a header block over ${this.maxBlock} bytes`);
    if (f.flags & FLAG.END_HEADERS) this.headerBlock();
  }

  private headerBlock(): void {
    const { stream: id, end, parts } = this.block!;
    this.block = undefined;
    let fields: HeaderField[];
    try {
      // Decoded whatever becomes of the stream: the table must stay in step with the peer's.
      fields = this.decoder.decode(parts.length === 1 ? parts[0] : Buffer.concat(parts));
    } catch (err) {
      if (!(err instanceof H2ProtocolError) || err.scope !== 'stream') throw err;
      // A header list over the limit: the table is in step, only the stream is refused.
      if (this.streams.has(id)) return this.streamError(id, 'PROTOCOL_ERROR');
      if (this.role === 'server' && id > this.lastPeerStream) {
        this.lastPeerStream = id;
        this.emit(frameBytes(FRAME.RST_STREAM, 0, id, u32(H2_ERROR_CODES.PROTOCOL_ERROR)));
      }
      return;
    }
    let s = this.streams.get(id);
    if (!s) {
      if (this.role === 'client' || id <= this.lastPeerStream) {
        if (this.idle(id)) throw new H2ProtocolError('PROTOCOL_ERROR', `HEADERS on stream ${id}, which this client never opened`);
        // A request below the highest stream the client opened: stream ids only grow (RFC 9113
        // 5.1.1). Trailers of a stream this end reset are let go by (they crossed the reset).
        if (this.role === 'server' && fields.some((f) => f.name === ':method'))
          throw new H2ProtocolError('PROTOCOL_ERROR', `a request on stream ${id}, below stream ${this.lastPeerStream} the client opened already`);
        return;
      }
      this.lastPeerStream = id;
      if (this.goingAway || this.streams.size >= this.maxConcurrent) return void this.emit(frameBytes(FRAME.RST_STREAM, 0, id, u32(H2_ERROR_CODES.REFUSED_STREAM)));
      s = this.newStream();
      this.streams.set(id, s);
      this.opened++;
    }
    if (s.remoteClosed) return this.streamError(id, 'STREAM_CLOSED');
    const role = this.blockRole(s, fields);
    if (role === 'trailers' && !end) return this.streamError(id, 'PROTOCOL_ERROR');
    const wrong = malformed(fields, role === 'informational' ? 'response' : role);
    if (wrong || (role === 'informational' && end)) return this.streamError(id, 'PROTOCOL_ERROR');
    if (role === 'request' || role === 'response') {
      const length = fields.find((x) => x.name === 'content-length')?.value;
      if (length !== undefined) {
        if (!/^[0-9]{1,15}$/.test(length)) return this.streamError(id, 'PROTOCOL_ERROR');
        if (!s.head) s.contentLength = Number(length);
      }
      if (end && s.contentLength !== undefined && s.contentLength !== 0) return this.streamError(id, 'PROTOCOL_ERROR');
    }
    s.blocks++;
    if (role === 'response') s.finalResponse = true;
    if (end) s.remoteClosed = true;
    this.handler.headers(id, fields, end, role);
    if (end) this.closeIfDone(id, s);
  }

  private blockRole(s: StreamState, fields: HeaderField[]): HeaderBlockRole {
    if (this.role === 'server') return s.blocks === 0 ? 'request' : 'trailers';
    if (s.finalResponse) return 'trailers';
    const status = fields.find((f) => f.name === ':status')?.value ?? '';
    return status.startsWith('1') && status !== '101' ? 'informational' : 'response';
  }

  private onReset(f: Frame): void {
    const s = this.streams.get(f.stream);
    if (!s) {
      if (this.idle(f.stream)) throw new H2ProtocolError('PROTOCOL_ERROR', `RST_STREAM on idle stream ${f.stream}`);
      return;
    }
    this.streams.delete(f.stream);
    const code = f.payload.readUInt32BE(0);
    if (this.role === 'server' && !s.answered) {
      this.cancelled++;
      if (this.cancelled >= RAPID_RESET_MIN && this.cancelled * 2 > this.opened)
        throw new H2ProtocolError('ENHANCE_YOUR_CALM', `${this.cancelled} of ${this.opened} streams cancelled before an answer`);
    }
    this.handler.reset(f.stream, code, true);
  }

  private onSettings(f: Frame): void {
    if (f.flags & FLAG.ACK) {
      const delta = this.localWindow - this.recvInitial;
      this.recvInitial = this.localWindow;
      for (const s of this.streams.values()) s.recvWindow += delta;
      return;
    }
    for (let off = 0; off < f.payload.length; off += 6) {
      const id = f.payload.readUInt16BE(off);
      const value = f.payload.readUInt32BE(off + 2);
      switch (id) {
        case SETTING.HEADER_TABLE_SIZE:
          this.encoder.setMaxTableSize(value);
          break;
        case SETTING.ENABLE_PUSH:
          if (value > 1) throw new H2ProtocolError('PROTOCOL_ERROR', `SETTINGS_ENABLE_PUSH of ${value}`);
          break;
        case SETTING.MAX_CONCURRENT_STREAMS:
          this.peerMaxConcurrent = value;
          break;
        case SETTING.INITIAL_WINDOW_SIZE: {
          if (value > MAX_WINDOW) throw new H2ProtocolError('FLOW_CONTROL_ERROR', `SETTINGS_INITIAL_WINDOW_SIZE of ${value}`);
          const delta = value - this.peerInitialWindow;
          this.peerInitialWindow = value;
          for (const s of this.streams.values()) {
            s.sendWindow += delta;
            if (s.sendWindow > MAX_WINDOW) throw new H2ProtocolError('FLOW_CONTROL_ERROR', 'a stream window over 2^31-1 after SETTINGS_INITIAL_WINDOW_SIZE');
          }
          break;
        }
        case SETTING.MAX_FRAME_SIZE:
          if (value < DEFAULT_MAX_FRAME_SIZE || value > 2 ** 24 - 1) throw new H2ProtocolError('PROTOCOL_ERROR', `SETTINGS_MAX_FRAME_SIZE of ${value}`);
          this.peerMaxFrame = value;
          break;
        default:
          break; // MAX_HEADER_LIST_SIZE is advisory; unknown settings are ignored
      }
    }
    this.emit(frameBytes(FRAME.SETTINGS, FLAG.ACK, 0));
    this.flushAll();
  }

  private onWindowUpdate(f: Frame): void {
    const increment = f.payload.readUInt32BE(0) & 0x7fffffff;
    if (f.stream === 0) {
      if (increment === 0) throw new H2ProtocolError('PROTOCOL_ERROR', 'a connection WINDOW_UPDATE of 0');
      this.connSendWindow += increment;
      if (this.connSendWindow > MAX_WINDOW) throw new H2ProtocolError('FLOW_CONTROL_ERROR', 'the connection window over 2^31-1');
      return this.flushAll();
    }
    const s = this.streams.get(f.stream);
    if (!s) {
      if (this.idle(f.stream)) throw new H2ProtocolError('PROTOCOL_ERROR', `WINDOW_UPDATE on idle stream ${f.stream}`);
      return;
    }
    if (increment === 0) return this.streamError(f.stream, 'PROTOCOL_ERROR');
    s.sendWindow += increment;
    if (s.sendWindow > MAX_WINDOW) return this.streamError(f.stream, 'FLOW_CONTROL_ERROR');
    if (s.queue.length > 0 && this.flushStream(f.stream, s)) {
      this.handler.writable(f.stream);
      this.closeIfDone(f.stream, s);
    }
  }
}
