// Heads the relay writes: the request it sends upstream and the response it passes back. Names
// are written lower-case (HTTP/1.1 names are case-insensitive); a value carrying CR, LF or NUL,
// which could split the head, is never written.
import type { ResponseHead } from './response-head.js';
import { headerMap, type HeaderMap } from './header-ops.js';

/** Connection-scoped response headers the relay does not pass on (RFC 9110 7.6.1). */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'upgrade']);
const UNSAFE = /[\r\n\0]/;

function lines(headers: HeaderMap): string {
  let out = '';
  // for-in and no array per value: this runs for every head the relay writes.
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined) continue;
    if (!Array.isArray(value)) {
      const s = String(value);
      if (!UNSAFE.test(s)) out += `${name}: ${s}\r\n`;
      continue;
    }
    for (const v of value) {
      const s = String(v);
      if (!UNSAFE.test(s)) out += `${name}: ${s}\r\n`;
    }
  }
  return out;
}

export function requestHeadText(method: string, path: string, headers: HeaderMap): string {
  return `${method} ${path} HTTP/1.1\r\n${lines(headers)}\r\n`;
}

/**
 * The response's end-to-end headers as a map, for header rules to edit. Transfer-Encoding stays
 * (the body is relayed in its original framing); Content-Length goes when it does.
 */
export function responseHeaderMap(head: ResponseHead): HeaderMap {
  const map = headerMap();
  for (const [name, v] of head.headers) {
    if (HOP_BY_HOP.has(name) || (name === 'content-length' && head.framing.type === 'chunked')) continue;
    const cur = map[name];
    map[name] = cur === undefined ? v : Array.isArray(cur) ? [...cur, v] : [String(cur), v];
  }
  return map;
}

/** `close`: the client connection ends after this response. */
export function responseHeadText(head: ResponseHead, headers: HeaderMap, close: boolean): string {
  return `HTTP/1.1 ${head.status} ${head.reason}\r\n${lines(headers)}${close ? 'connection: close\r\n' : ''}\r\n`;
}

/**
 * The response head as it came, less its connection-scoped headers: what responseHeadText of an
 * unedited responseHeaderMap writes (repeated names grouped at the first), without building the
 * map. The reader took only values without CR, LF or NUL, so none needs testing again.
 */
export function passedOnHeadText(head: ResponseHead, close: boolean): string {
  let out = `HTTP/1.1 ${head.status} ${head.reason}\r\n`;
  const headers = head.headers;
  const chunked = head.framing.type === 'chunked';
  for (let i = 0; i < headers.length; i++) {
    const [name, value] = headers[i];
    if (HOP_BY_HOP.has(name) || (chunked && name === 'content-length')) continue;
    // A name repeated, or one that starts with a digit (an object lists integer keys first), is
    // rare: the map's order then, so both writers agree.
    const c = name.charCodeAt(0);
    if (c >= 0x30 && c <= 0x39) return responseHeadText(head, responseHeaderMap(head), close);
    for (let j = 0; j < i; j++) if (headers[j][0] === name) return responseHeadText(head, responseHeaderMap(head), close);
    out += `${name}: ${value}\r\n`;
  }
  return close ? `${out}connection: close\r\n\r\n` : `${out}\r\n`;
}

/** A 101 passed on with edited end-to-end headers; the upgrade itself (`connection`, `upgrade`) is kept as the upstream said it. */
export function switchingHeadText(head: ResponseHead, headers: HeaderMap, protocol: string): string {
  return `HTTP/1.1 101 ${head.reason}\r\n${lines(headers)}connection: Upgrade\r\n${UNSAFE.test(protocol) ? '' : `upgrade: ${protocol}\r\n`}\r\n`;
}

/** A response the sidecar makes itself (no route, refused, upstream failure). */
export function localResponseText(status: number, reason: string, flags: string, body: string, close: boolean, headers?: HeaderMap): string {
  return `HTTP/1.1 ${status} ${reason}\r\ncontent-type: text/plain\r\ncontent-length: ${Buffer.byteLength(body)}\r\nx-mesh-response-flags: ${flags}\r\n${headers ? lines(headers) : ''}${close ? 'connection: close\r\n' : ''}\r\n${body}`;
}
