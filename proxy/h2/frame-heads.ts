// What both frame relays (inbound-frames.ts, outbound-frames.ts) share about heads: a request
// read from its header fields into the view routing and policy read, Node-style header maps
// back into fields, and a local answer as the fields and body that go on the wire.
import type { OutgoingHttpHeaders } from 'node:http';
import type { HeaderField } from '../../core/h2/hpack.js';
import type { RequestView } from '../outbound-route.js';
import type { LocalReply } from '../pipeline/filter.js';
import { localReplyParts } from './streams.js';
import { headerMap } from '../../core/http1/header-ops.js';

/** A request's head from its header fields, as Node's path reads one (streamRequest). */
export function requestFromFields(fields: HeaderField[], socket: RequestView['socket']): RequestView {
  const headers = headerMap<Record<string, string>>();
  let method = 'GET';
  let path = '/';
  let authority: string | undefined;
  for (const { name, value } of fields) {
    if (name === ':method') method = value;
    else if (name === ':path') path = value;
    else if (name === ':authority') authority = value;
    else if (name[0] !== ':') headers[name] = name in headers ? `${headers[name]}${name === 'cookie' ? '; ' : ', '}${value}` : value;
  }
  // The authority is the host, as Node's path reads it; a `host` header only stands in for a missing one.
  if (authority !== undefined) headers.host = authority;
  return { method, url: path, headers, socket, protocol: 'HTTP/2' };
}

/** Node-style header values (arrays for repeated names) as header fields, lowercase, in their order (pseudo-headers first, as nextHopHeaders puts them). */
export function headerFields(headers: OutgoingHttpHeaders): HeaderField[] {
  const out: HeaderField[] = [];
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined) continue;
    const lower = name.toLowerCase();
    if (Array.isArray(value)) for (const v of value) out.push({ name: lower, value: String(v) });
    else out.push({ name: lower, value: String(value) });
  }
  return out;
}

/** An answer's fields as a header map (pseudo-headers left out), for the router's header rules to edit. */
export function fieldsToMap(fields: HeaderField[]): OutgoingHttpHeaders {
  const out = headerMap<OutgoingHttpHeaders>();
  for (const { name, value } of fields) {
    if (name[0] === ':') continue;
    const had = out[name];
    out[name] = had === undefined ? value : Array.isArray(had) ? [...had, value] : [String(had), value];
  }
  return out;
}

/** The value of the first field named `name`. */
export function fieldValue(fields: HeaderField[], name: string): string | undefined {
  for (const f of fields) if (f.name === name) return f.value;
  return undefined;
}

/** A local answer on the wire (localReplyParts): its head's fields, `:status` first, and its body (none: the head ends the stream). */
export function localReplyFields(grpc: boolean, r: LocalReply): { head: HeaderField[]; body: Buffer | undefined; status: number; grpcStatus: string } {
  const parts = localReplyParts(grpc, r);
  const head: HeaderField[] = [{ name: ':status', value: String(parts.status) }];
  for (const name in parts.head) if (name !== ':status') head.push({ name: name.toLowerCase(), value: String(parts.head[name]) });
  return { head, body: parts.body === undefined ? undefined : Buffer.from(parts.body), status: parts.status, grpcStatus: parts.grpcStatus };
}
