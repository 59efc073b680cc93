// HTTP/2 frames (RFC 9113 section 4): cut from a byte stream, each checked for what can be
// checked without the connection's state (its length against the advertised maximum, the
// lengths fixed by its type, padding within it), and written.
import { H2ProtocolError } from './errors.js';

export const CLIENT_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

export const FRAME = {
  DATA: 0x0,
  HEADERS: 0x1,
  PRIORITY: 0x2,
  RST_STREAM: 0x3,
  SETTINGS: 0x4,
  PUSH_PROMISE: 0x5,
  PING: 0x6,
  GOAWAY: 0x7,
  WINDOW_UPDATE: 0x8,
  CONTINUATION: 0x9,
} as const;

export const FLAG = { END_STREAM: 0x1, ACK: 0x1, END_HEADERS: 0x4, PADDED: 0x8, PRIORITY: 0x20 } as const;

export const SETTING = {
  HEADER_TABLE_SIZE: 0x1,
  ENABLE_PUSH: 0x2,
  MAX_CONCURRENT_STREAMS: 0x3,
  INITIAL_WINDOW_SIZE: 0x4,
  MAX_FRAME_SIZE: 0x5,
  MAX_HEADER_LIST_SIZE: 0x6,
} as const;

/** The smallest SETTINGS_MAX_FRAME_SIZE there is, and every peer's until it says otherwise. */
export const DEFAULT_MAX_FRAME_SIZE = 16_384;

export interface Frame {
  type: number;
  flags: number;
  stream: number;
  /** DATA and HEADERS without their padding (and HEADERS without its priority fields). */
  payload: Buffer;
  /** The payload's length on the wire, padding included: what flow control counts. */
  size: number;
}

const HEAD = 9;

/** Frames from a byte stream, as they complete; `expectPreface`: the server side, which first reads the client's preface. */
export class FrameReader {
  private pending: Buffer = Buffer.alloc(0);
  private prefaceLeft: boolean;

  constructor(
    expectPreface: boolean,
    /** SETTINGS_MAX_FRAME_SIZE this side advertised. */
    private readonly maxFrameSize = DEFAULT_MAX_FRAME_SIZE,
  ) {
    this.prefaceLeft = expectPreface;
  }

  push(chunk: Buffer): Frame[] {
    let buf = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    if (this.prefaceLeft) {
      const have = Math.min(buf.length, CLIENT_PREFACE.length);
      if (!buf.subarray(0, have).equals(CLIENT_PREFACE.subarray(0, have))) throw new H2ProtocolError('PROTOCOL_ERROR', 'the connection does not start with the HTTP/2 client preface');
      if (have < CLIENT_PREFACE.length) {
        this.pending = buf;
        return [];
      }
      buf = buf.subarray(CLIENT_PREFACE.length);
      this.prefaceLeft = false;
    }
    const frames: Frame[] = [];
    let off = 0;
    while (buf.length - off >= HEAD) {
      const length = (buf[off] << 16) | (buf[off + 1] << 8) | buf[off + 2];
      if (length > this.maxFrameSize) throw new H2ProtocolError('FRAME_SIZE_ERROR', `a frame of ${length} bytes, over the ${this.maxFrameSize} advertised`);
      if (buf.length - off < HEAD + length) break;
      const type = buf[off + 3];
      const flags = buf[off + 4];
      const stream = buf.readUInt32BE(off + 5) & 0x7fffffff;
      frames.push(checked(type, flags, stream, buf.subarray(off + HEAD, off + HEAD + length)));
      off += HEAD + length;
    }
    // What is left is copied: a view would keep the whole chunk it came in alive.
    this.pending = off === buf.length ? Buffer.alloc(0) : Buffer.from(buf.subarray(off));
    return frames;
  }
}

/** The checks a frame's own bytes allow (RFC 9113 section 6); padding and priority fields removed. */
function checked(type: number, flags: number, stream: number, payload: Buffer): Frame {
  const fixed = (length: number, what: string) => {
    if (payload.length !== length) throw new H2ProtocolError('FRAME_SIZE_ERROR', `${what} of ${payload.length} bytes, not ${length}`);
  };
  const onStream = (what: string, wanted: boolean) => {
    if ((stream !== 0) !== wanted) throw new H2ProtocolError('PROTOCOL_ERROR', wanted ? `${what} on stream 0` : `${what} on stream ${stream}, not 0`);
  };
  switch (type) {
    case FRAME.DATA:
    case FRAME.HEADERS: {
      onStream(type === FRAME.DATA ? 'DATA' : 'HEADERS', true);
      let body = payload;
      if (flags & FLAG.PADDED) {
        if (body.length < 1 || body[0] >= body.length) throw new H2ProtocolError('PROTOCOL_ERROR', 'padding as long as the frame or longer');
        body = body.subarray(1, body.length - body[0]);
      }
      if (type === FRAME.HEADERS && flags & FLAG.PRIORITY) {
        if (body.length < 5) throw new H2ProtocolError('FRAME_SIZE_ERROR', 'HEADERS too short for its priority fields');
        body = body.subarray(5);
      }
      return { type, flags, stream, payload: body, size: payload.length };
    }
    case FRAME.PRIORITY:
      onStream('PRIORITY', true);
      fixed(5, 'PRIORITY');
      break;
    case FRAME.RST_STREAM:
      onStream('RST_STREAM', true);
      fixed(4, 'RST_STREAM');
      break;
    case FRAME.SETTINGS:
      onStream('SETTINGS', false);
      if (flags & FLAG.ACK) fixed(0, 'a SETTINGS acknowledgement');
      else if (payload.length % 6 !== 0) throw new H2ProtocolError('FRAME_SIZE_ERROR', `SETTINGS of ${payload.length} bytes, not a multiple of 6`);
      break;
    case FRAME.PING:
      onStream('PING', false);
      fixed(8, 'PING');
      break;
    case FRAME.GOAWAY:
      onStream('GOAWAY', false);
      if (payload.length < 8) throw new H2ProtocolError('FRAME_SIZE_ERROR', `GOAWAY of ${payload.length} bytes, under 8`);
      break;
    case FRAME.WINDOW_UPDATE:
      fixed(4, 'WINDOW_UPDATE');
      break;
    case FRAME.CONTINUATION:
      onStream('CONTINUATION', true);
      break;
    // PUSH_PROMISE is refused by the connection (push is never enabled); unknown types are ignored (RFC 9113 4.1).
  }
  return { type, flags, stream, payload, size: payload.length };
}

export function frameBytes(type: number, flags: number, stream: number, payload: Uint8Array = EMPTY): Buffer {
  const out = Buffer.allocUnsafe(HEAD + payload.length);
  out[0] = payload.length >>> 16;
  out[1] = (payload.length >>> 8) & 0xff;
  out[2] = payload.length & 0xff;
  out[3] = type;
  out[4] = flags;
  out.writeUInt32BE(stream, 5);
  out.set(payload, HEAD);
  return out;
}

const EMPTY = Buffer.alloc(0);

/** A header block as HEADERS and as many CONTINUATIONs as `maxFrameSize` needs. */
export function headerFrames(stream: number, block: Buffer, endStream: boolean, maxFrameSize: number): Buffer[] {
  const frames: Buffer[] = [];
  let off = 0;
  do {
    const last = off + maxFrameSize >= block.length;
    const first = off === 0;
    const flags = (last ? FLAG.END_HEADERS : 0) | (first && endStream ? FLAG.END_STREAM : 0);
    frames.push(frameBytes(first ? FRAME.HEADERS : FRAME.CONTINUATION, flags, stream, block.subarray(off, off + maxFrameSize)));
    off += maxFrameSize;
  } while (off < block.length);
  return frames;
}

export function settingsPayload(settings: Partial<Record<keyof typeof SETTING, number>>): Buffer {
  const entries = Object.entries(settings) as [keyof typeof SETTING, number][];
  const out = Buffer.allocUnsafe(entries.length * 6);
  entries.forEach(([name, value], i) => {
    out.writeUInt16BE(SETTING[name], i * 6);
    out.writeUInt32BE(value, i * 6 + 2);
  });
  return out;
}

export function u32(value: number): Buffer {
  const out = Buffer.allocUnsafe(4);
  out.writeUInt32BE(value >>> 0);
  return out;
}
