// A reader for the response heads the relay passes back: status, headers and how the body is
// framed, which is all the relay needs to find where one response ends and the next begins on
// a kept-alive connection. A head that cannot be read unambiguously is `invalid`: the relay
// answers 502 rather than guess (a guess about framing is a response-splitting bug).

import { HEADER_LINE } from './request-head.js';

export type Framing = { type: 'length'; length: number } | { type: 'chunked' } | { type: 'close' } | { type: 'none' };

export interface ResponseHead {
  status: number;
  /** The reason phrase as sent (may be empty). */
  reason: string;
  /** Names as sent, in order; repeated names (set-cookie) stay repeated. */
  headers: [string, string][];
  framing: Framing;
  keepAlive: boolean;
  headLength: number;
}

export type ResponseHeadResult = { kind: 'incomplete' } | { kind: 'head'; head: ResponseHead } | { kind: 'invalid'; reason: string };

const MAX_RESPONSE_HEAD = 64 * 1024;
const STATUS_LINE = /^HTTP\/1\.([01]) (\d{3})(?: ([\t\x20-\x7e\x80-\xff]*))?$/;

/** `headRequest`: the answer to HEAD has no body whatever its Content-Length says. */
export function readResponseHead(buf: Buffer, headRequest: boolean): ResponseHeadResult {
  const end = buf.indexOf('\r\n\r\n');
  if (end === -1) return buf.length > MAX_RESPONSE_HEAD ? { kind: 'invalid', reason: 'response head too large' } : { kind: 'incomplete' };
  const lines = buf.toString('latin1', 0, end).split('\r\n');
  const first = STATUS_LINE.exec(lines[0]);
  if (!first) return { kind: 'invalid', reason: 'malformed status line' };
  const status = Number(first[2]);
  const headers: [string, string][] = [];
  let length: string | undefined;
  let transferEncoding: string | undefined;
  let keepAlive = first[1] === '1';
  for (let i = 1; i < lines.length; i++) {
    const m = HEADER_LINE.exec(lines[i]);
    if (!m) return { kind: 'invalid', reason: `malformed header line ${i}` };
    const name = m[1].toLowerCase();
    if (name === 'content-length') {
      // A repeated Content-Length, even with the same value, is refused as Node's parser refuses it.
      if (!/^\d{1,15}$/.test(m[2]) || length !== undefined) return { kind: 'invalid', reason: 'bad or repeated content-length' };
      length = m[2];
    } else if (name === 'transfer-encoding') transferEncoding = transferEncoding === undefined ? m[2] : `${transferEncoding}, ${m[2]}`;
    else if (name === 'connection') {
      const tokens = m[2]
        .toLowerCase()
        .split(',')
        .map((t) => t.trim());
      if (tokens.includes('close')) keepAlive = false;
      else if (tokens.includes('keep-alive')) keepAlive = true;
    }
    headers.push([m[1], m[2]]);
  }
  // Both framings at once is how response splitting starts (RFC 9112 6.3); Node's parser refuses it too.
  if (transferEncoding !== undefined && length !== undefined) return { kind: 'invalid', reason: 'both transfer-encoding and content-length' };
  let framing: Framing;
  if (headRequest || status < 200 || status === 204 || status === 304) framing = { type: 'none' };
  else if (transferEncoding !== undefined) {
    // Transfer-Encoding overrides Content-Length (RFC 9112 6.3); the relay then drops the latter.
    const codings = transferEncoding
      .toLowerCase()
      .split(',')
      .map((t) => t.trim());
    framing = codings[codings.length - 1] === 'chunked' ? { type: 'chunked' } : { type: 'close' };
  } else if (length !== undefined) framing = { type: 'length', length: Number(length) };
  else framing = { type: 'close' };
  if (framing.type === 'close') keepAlive = false;
  return { kind: 'head', head: { status, reason: first[3] ?? '', headers, framing, keepAlive, headLength: end + 4 } };
}
