// HTTP/2's own error codes (RFC 9113 section 7): what a peer is told in RST_STREAM or GOAWAY
// when its frames or header blocks break the protocol. The codec throws these; the connection
// that catches one answers with its code.

export const H2_ERROR_CODES = {
  NO_ERROR: 0x0,
  PROTOCOL_ERROR: 0x1,
  INTERNAL_ERROR: 0x2,
  FLOW_CONTROL_ERROR: 0x3,
  SETTINGS_TIMEOUT: 0x4,
  STREAM_CLOSED: 0x5,
  FRAME_SIZE_ERROR: 0x6,
  REFUSED_STREAM: 0x7,
  CANCEL: 0x8,
  COMPRESSION_ERROR: 0x9,
  CONNECT_ERROR: 0xa,
  ENHANCE_YOUR_CALM: 0xb,
  INADEQUATE_SECURITY: 0xc,
  HTTP_1_1_REQUIRED: 0xd,
} as const;

export type H2ErrorName = keyof typeof H2_ERROR_CODES;

/**
 * A peer broke HTTP/2: `code` is what to tell it, `message` what exactly was wrong; `scope` whether
 * the connection ends (GOAWAY) or only the stream (RST_STREAM), the connection's state being whole.
 */
export class H2ProtocolError extends Error {
  readonly code: H2ErrorName;
  readonly scope: 'connection' | 'stream';

  constructor(code: H2ErrorName, message: string, scope: 'connection' | 'stream' = 'connection') {
    super(message);
    this.name = 'H2ProtocolError';
    this.code = code;
    this.scope = scope;
  }

  /** The number RST_STREAM and GOAWAY carry. */
  get wireCode(): number {
    return H2_ERROR_CODES[this.code];
  }
}
