// A strict reader for HTTP/1.1 request heads, for the sidecar's relay. It accepts only the
// plain, unambiguous shape almost every request has (origin-form target, HTTP/1.1, token header
// names, no repeated header, a body framed by at most one Content-Length). Anything else is
// answered `other`, and the connection goes to Node's full HTTP parser, which serves the rare
// shapes and refuses the malformed ones (CL+TE, bare CR, obs-fold, ...) with 400 or 431. So the
// relay never has to decide an ambiguous case, which is where request smuggling lives.
import { headerMap } from './header-ops.js';
import { headerLine, readHeaderLine } from './header-line.js';

/** Heads longer than this go to the full parser, which answers 431. */
export const MAX_HEAD_BYTES = 16 * 1024;

export interface RequestHead {
  method: string;
  /** The request target as sent (origin-form: path and query). */
  target: string;
  /** Lower-case names; no name appears twice (such requests are `other`). */
  headers: Record<string, string>;
  /** 0 when there is no body. */
  contentLength: number;
  /** Bytes of the head, final CRLF CRLF included. */
  headLength: number;
  /** False when the client sent `Connection: close`. */
  keepAlive: boolean;
}

export type RequestHeadResult = { kind: 'incomplete' } | { kind: 'head'; head: RequestHead } | { kind: 'other'; reason: string };

const REQUEST_LINE = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+) (\/[\x21-\x7e]*) HTTP\/1\.1$/;
/** A header line; field values: visible ASCII, space, tab, obs-text; never CR, LF, NUL or other controls. */
export const HEADER_LINE = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+):[\t ]*([\t\x20-\x7e\x80-\xff]*?)[\t ]*$/;
const DIGITS = /^\d{1,15}$/;
const LINE = headerLine();
const RELAYED_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH', 'TRACE']);
/** Headers whose presence asks for something the relay leaves to the full parser. */
const FULL_PARSER_HEADERS = ['transfer-encoding', 'upgrade', 'expect', 'http2-settings'];

/**
 * Protocol detection for ports that do not declare one: a connection whose first bytes are a
 * method token and a space is HTTP/1.x; anything else (a database handshake, TLS, a binary
 * protocol) is carried as bytes.
 */
export function looksLikeHttp1(first: Buffer): boolean {
  return /^[A-Z]{3,10} /.test(first.toString('latin1', 0, Math.min(first.length, 12)));
}

export function readRequestHead(buf: Buffer): RequestHeadResult {
  const end = buf.indexOf('\r\n\r\n');
  if (end === -1) {
    if (buf.length > MAX_HEAD_BYTES) return { kind: 'other', reason: 'head too large' };
    // A line ended by a bare LF would never complete a head here: the full parser refuses it
    // (400) at once, rather than the client waiting for the head timeout.
    return hasBareLf(buf) ? { kind: 'other', reason: 'bare LF' } : { kind: 'incomplete' };
  }
  if (end + 4 > MAX_HEAD_BYTES) return { kind: 'other', reason: 'head too large' };
  const text = buf.toString('latin1', 0, end);
  const lineEnd = text.indexOf('\r\n');
  const first = REQUEST_LINE.exec(lineEnd === -1 ? text : text.slice(0, lineEnd));
  if (!first) return { kind: 'other', reason: 'request line' };
  // Methods Node's parser does not know go to it, and it answers 400: the relay takes no request Node would refuse.
  if (!RELAYED_METHODS.has(first[1])) return { kind: 'other', reason: 'method' };
  const headers = headerMap<Record<string, string>>();
  const line = LINE;
  for (let at = lineEnd === -1 ? end : lineEnd + 2, i = 1; at < end; at = line.next, i++) {
    if (!readHeaderLine(text, at, end, line)) return { kind: 'other', reason: `header line ${i}` };
    if (line.name in headers) return { kind: 'other', reason: `repeated header ${line.name}` };
    headers[line.name] = line.value;
  }
  if (headers.host === undefined) return { kind: 'other', reason: 'no host' };
  for (const h of FULL_PARSER_HEADERS) if (headers[h] !== undefined) return { kind: 'other', reason: h };
  const cl = headers['content-length'];
  if (cl !== undefined && !DIGITS.test(cl)) return { kind: 'other', reason: 'content-length' };
  let keepAlive = true;
  const connection = headers.connection;
  // The common value needs no splitting.
  if (connection !== undefined && connection !== 'keep-alive') {
    for (const token of connection.toLowerCase().split(',')) {
      const t = token.trim();
      if (t === 'close') keepAlive = false;
      else if (t === 'upgrade') return { kind: 'other', reason: 'connection upgrade' };
    }
  }
  return { kind: 'head', head: { method: first[1], target: first[2], headers, contentLength: cl === undefined ? 0 : Number(cl), headLength: end + 4, keepAlive } };
}

function hasBareLf(buf: Buffer): boolean {
  for (let i = buf.indexOf(10); i !== -1; i = buf.indexOf(10, i + 1)) if (i === 0 || buf[i - 1] !== 13) return true;
  return false;
}
