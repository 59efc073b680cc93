// A reader for the response heads the relay passes back: status, headers and how the body is
// framed, which is all the relay needs to find where one response ends and the next begins on
// a kept-alive connection. A head that cannot be read unambiguously is `invalid`: the relay
// answers 502 rather than guess (a guess about framing is a response-splitting bug).

import { headerLine, readHeaderLine } from './header-line.js';

export type Framing = { type: 'length'; length: number } | { type: 'chunked' } | { type: 'close' } | { type: 'none' };

export interface ResponseHead {
  status: number;
  /** The reason phrase as sent (may be empty). */
  reason: string;
  /** Lower-case names, in order; repeated names (set-cookie) stay repeated. */
  headers: [string, string][];
  framing: Framing;
  keepAlive: boolean;
  headLength: number;
}

export type ResponseHeadResult = { kind: 'incomplete' } | { kind: 'head'; head: ResponseHead } | { kind: 'invalid'; reason: string };

const MAX_RESPONSE_HEAD = 64 * 1024;
const STATUS_LINE = /^HTTP\/1\.([01]) (\d{3})(?: ([\t\x20-\x7e\x80-\xff]*))?$/;
const DIGITS = /^\d{1,15}$/;
const LINE = headerLine();

/** A Connection header's say on keeping the connection open: `close` wins over `keep-alive`; neither leaves it as it was. */
function connectionKeepsAlive(value: string, was: boolean): boolean {
  // What almost every server sends, without splitting.
  if (value === 'keep-alive') return true;
  if (value === 'close') return false;
  const tokens = value
    .toLowerCase()
    .split(',')
    .map((t) => t.trim());
  if (tokens.includes('close')) return false;
  if (tokens.includes('keep-alive')) return true;
  return was;
}

/** `headRequest`: the answer to HEAD has no body whatever its Content-Length says. */
export function readResponseHead(buf: Buffer, headRequest: boolean): ResponseHeadResult {
  const end = buf.indexOf('\r\n\r\n');
  if (end === -1) return buf.length > MAX_RESPONSE_HEAD ? { kind: 'invalid', reason: 'response head too large' } : { kind: 'incomplete' };
  const text = buf.toString('latin1', 0, end);
  const lineEnd = text.indexOf('\r\n');
  const first = STATUS_LINE.exec(lineEnd === -1 ? text : text.slice(0, lineEnd));
  if (!first) return { kind: 'invalid', reason: 'malformed status line' };
  const status = Number(first[2]);
  const headers: [string, string][] = [];
  let length: string | undefined;
  let transferEncoding: string | undefined;
  let keepAlive = first[1] === '1';
  const line = LINE;
  for (let at = lineEnd === -1 ? end : lineEnd + 2, i = 1; at < end; at = line.next, i++) {
    if (!readHeaderLine(text, at, end, line)) return { kind: 'invalid', reason: `malformed header line ${i}` };
    const { name, value } = line;
    if (name === 'content-length') {
      // A repeated Content-Length, even with the same value, is refused as Node's parser refuses it.
      if (!DIGITS.test(value) || length !== undefined) return { kind: 'invalid', reason: 'bad or repeated content-length' };
      length = value;
    } else if (name === 'transfer-encoding') transferEncoding = transferEncoding === undefined ? value : `${transferEncoding}, ${value}`;
    else if (name === 'connection') keepAlive = connectionKeepsAlive(value, keepAlive);
    headers.push([name, value]);
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
