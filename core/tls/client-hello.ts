// The server name a TLS client asks for (SNI), read from its ClientHello without ending TLS: what a
// gateway's passthrough server routes by. Pure and defensive: the bytes are a stranger's, so every
// length is checked against what is there, and anything that is not a well-formed ClientHello is
// said to be so rather than guessed at (RFC 8446 4.1.2, RFC 6066 3).

export type ClientHelloRead =
  /** A whole ClientHello: its server name, if it sent one. */
  | { kind: 'hello'; serverName?: string }
  /** A ClientHello so far: read more (up to `needed` bytes in all). */
  | { kind: 'incomplete'; needed: number }
  /** Not TLS, or malformed: the connection is not routed. */
  | { kind: 'invalid'; reason: string };

/** A ClientHello larger than this is refused: real ones are a few hundred bytes (post-quantum key shares about 2 KB). */
export const MAX_CLIENT_HELLO = 16 * 1024;

const HANDSHAKE = 0x16;
const CLIENT_HELLO = 0x01;
const EXT_SERVER_NAME = 0x0000;
const HOST_NAME = 0x00;

export function readClientHello(buf: Uint8Array): ClientHelloRead {
  if (buf.length < 5) return { kind: 'incomplete', needed: 5 };
  if (buf[0] !== HANDSHAKE) return { kind: 'invalid', reason: 'not a TLS handshake record' };
  if (buf[1] !== 0x03) return { kind: 'invalid', reason: 'not a TLS record version' };
  // The ClientHello may span records; gather handshake bytes from consecutive handshake records.
  const handshake: number[] = [];
  let at = 0;
  let wanted: number | undefined;
  while (wanted === undefined || handshake.length < wanted) {
    if (at + 5 > buf.length) return { kind: 'incomplete', needed: at + 5 };
    if (buf[at] !== HANDSHAKE || buf[at + 1] !== 0x03) return { kind: 'invalid', reason: 'the ClientHello is interrupted by another record' };
    const len = (buf[at + 3] << 8) | buf[at + 4];
    if (len === 0 || len > MAX_CLIENT_HELLO) return { kind: 'invalid', reason: `a TLS record of ${len} bytes` };
    if (at + 5 + len > buf.length) return { kind: 'incomplete', needed: at + 5 + len };
    for (let i = at + 5; i < at + 5 + len; i++) handshake.push(buf[i]);
    at += 5 + len;
    if (wanted === undefined && handshake.length >= 4) {
      if (handshake[0] !== CLIENT_HELLO) return { kind: 'invalid', reason: 'the first handshake message is not a ClientHello' };
      wanted = 4 + ((handshake[1] << 16) | (handshake[2] << 8) | handshake[3]);
      if (wanted > MAX_CLIENT_HELLO) return { kind: 'invalid', reason: `a ClientHello of ${wanted} bytes` };
    }
    if (at > MAX_CLIENT_HELLO + 5 * 4) return { kind: 'invalid', reason: 'the ClientHello is too large' };
  }
  return serverNameOf(Uint8Array.from(handshake.slice(4, wanted)));
}

/** The body of a ClientHello (after its 4-byte handshake header). */
function serverNameOf(b: Uint8Array): ClientHelloRead {
  let p = 0;
  const need = (n: number) => p + n <= b.length;
  const u8 = () => b[p++];
  const u16 = () => {
    const v = (b[p] << 8) | b[p + 1];
    p += 2;
    return v;
  };
  if (!need(2 + 32 + 1)) return { kind: 'invalid', reason: 'the ClientHello is cut short' };
  p += 2 + 32; // legacy_version, random
  const sessionId = u8();
  if (sessionId > 32 || !need(sessionId + 2)) return { kind: 'invalid', reason: 'bad session id' };
  p += sessionId;
  const suites = u16();
  if (suites === 0 || suites % 2 !== 0 || !need(suites + 1)) return { kind: 'invalid', reason: 'bad cipher suites' };
  p += suites;
  const compression = u8();
  if (compression === 0 || !need(compression)) return { kind: 'invalid', reason: 'bad compression methods' };
  p += compression;
  if (p === b.length) return { kind: 'hello' }; // no extensions: no server name
  if (!need(2)) return { kind: 'invalid', reason: 'bad extensions' };
  const extEnd = p + 2 + ((b[p] << 8) | b[p + 1]);
  p += 2;
  if (extEnd !== b.length) return { kind: 'invalid', reason: 'the extensions do not fill the ClientHello' };
  let serverName: string | undefined;
  while (p < extEnd) {
    if (!need(4)) return { kind: 'invalid', reason: 'an extension is cut short' };
    const type = u16();
    const len = u16();
    if (p + len > extEnd) return { kind: 'invalid', reason: 'an extension overruns the ClientHello' };
    if (type === EXT_SERVER_NAME) {
      if (serverName !== undefined) return { kind: 'invalid', reason: 'two server_name extensions' };
      const name = hostName(b.subarray(p, p + len));
      if (typeof name === 'object') return name;
      serverName = name;
    }
    p += len;
  }
  return serverName === undefined ? { kind: 'hello' } : { kind: 'hello', serverName };
}

/** server_name's list: the host_name entry, which must be a DNS name (RFC 6066: no IP addresses, no trailing dot). */
function hostName(e: Uint8Array): string | { kind: 'invalid'; reason: string } {
  if (e.length < 2 || ((e[0] << 8) | e[1]) !== e.length - 2) return { kind: 'invalid', reason: 'bad server_name list' };
  let p = 2;
  let name: string | undefined;
  while (p < e.length) {
    if (p + 3 > e.length) return { kind: 'invalid', reason: 'a server name is cut short' };
    const type = e[p];
    const len = (e[p + 1] << 8) | e[p + 2];
    p += 3;
    if (p + len > e.length) return { kind: 'invalid', reason: 'a server name overruns its list' };
    if (type === HOST_NAME) {
      if (name !== undefined) return { kind: 'invalid', reason: 'two host names' };
      if (len === 0 || len > 253) return { kind: 'invalid', reason: 'the server name is not a DNS name' };
      name = String.fromCharCode(...e.subarray(p, p + len));
      if (!/^[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?(\.[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?)*$/.test(name)) return { kind: 'invalid', reason: 'the server name is not a DNS name' };
    }
    p += len;
  }
  return name === undefined ? { kind: 'invalid', reason: 'server_name without a host name' } : name.toLowerCase();
}
