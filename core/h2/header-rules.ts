// What makes an HTTP/2 message malformed (RFC 9113 section 8.2 and 8.3): checked on every header
// block a peer sends, so that nothing past the codec sees an uppercase name, a connection-specific
// header, a pseudo-header out of place, or a request without its method, scheme or path. Each
// check names what is wrong; the stream is then reset with PROTOCOL_ERROR.
import type { HeaderField } from './hpack.js';

const CONNECTION_SPECIFIC = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade']);
const REQUEST_PSEUDO = new Set([':method', ':scheme', ':authority', ':path', ':protocol']);
/** Tokens of RFC 9110 5.1, lowercase only: HTTP/2 names are sent in lowercase. */
const NAME = /^[!#$%&'*+\-.^_`|~0-9a-z]+$/;
/** Field values: no NUL, CR or LF anywhere, no whitespace at either end (RFC 9113 8.2.1). */
const BAD_VALUE = /[\0\r\n]|^[ \t]|[ \t]$/;

export type HeaderBlockKind = 'request' | 'response' | 'trailers';

/** What is wrong with a header block of `kind`, or undefined. */
export function malformed(fields: readonly HeaderField[], kind: HeaderBlockKind): string | undefined {
  let regularSeen = false;
  const pseudo = new Map<string, string>();
  for (const { name, value } of fields) {
    if (name.startsWith(':')) {
      if (kind === 'trailers') return `pseudo-header ${name} in trailers`;
      if (regularSeen) return `pseudo-header ${name} after a regular header`;
      const known = kind === 'request' ? REQUEST_PSEUDO.has(name) : name === ':status';
      if (!known) return `pseudo-header ${name} is not one of a ${kind}`;
      if (pseudo.has(name)) return `pseudo-header ${name} twice`;
      pseudo.set(name, value);
      continue;
    }
    regularSeen = true;
    if (!NAME.test(name)) return `header name "${printable(name)}" is not a lowercase token`;
    if (CONNECTION_SPECIFIC.has(name)) return `connection-specific header ${name}`;
    if (name === 'te' && value !== 'trailers') return `te other than "trailers"`;
    if (BAD_VALUE.test(value)) return `header ${name} has a value with NUL, CR, LF or whitespace at an end`;
  }
  if (kind === 'response') {
    const status = pseudo.get(':status');
    if (status === undefined) return 'a response without :status';
    if (!/^[1-9][0-9]{2}$/.test(status)) return `:status "${printable(status)}" is not three digits`;
  }
  if (kind === 'request') {
    const method = pseudo.get(':method');
    if (method === undefined) return 'a request without :method';
    if (method === 'CONNECT' && !pseudo.has(':protocol')) {
      if (pseudo.has(':scheme') || pseudo.has(':path')) return 'CONNECT with :scheme or :path';
      if (!pseudo.get(':authority')) return 'CONNECT without :authority';
      return undefined;
    }
    if (!pseudo.get(':scheme')) return 'a request without :scheme';
    const path = pseudo.get(':path');
    if (!path) return 'a request without :path';
    if (path[0] !== '/' && !(path === '*' && method === 'OPTIONS')) return `:path "${printable(path)}" does not start with /`;
  }
  return undefined;
}

function printable(s: string): string {
  return JSON.stringify(s.slice(0, 64)).slice(1, -1);
}
