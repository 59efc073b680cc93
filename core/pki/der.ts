// Just enough DER reading to slice a structure's exact bytes (signatures are over the original
// encoding, which a parse-and-re-encode round trip is not guaranteed to reproduce).
import { MeshError } from '../errors.js';

export interface Tlv {
  tag: number;
  /** Offset of the tag byte. */
  start: number;
  /** Offset of the first content byte. */
  contentStart: number;
  end: number;
}

export function readTlv(buf: Buffer, offset: number): Tlv {
  if (offset + 2 > buf.length) throw new MeshError('PARSE_ERROR', 'DER data is truncated');
  const tag = buf[offset];
  let len = buf[offset + 1];
  let pos = offset + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4 || pos + n > buf.length) throw new MeshError('PARSE_ERROR', 'DER length is malformed');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[pos + i];
    pos += n;
  }
  if (pos + len > buf.length) throw new MeshError('PARSE_ERROR', 'DER data is truncated');
  return { tag, start: offset, contentStart: pos, end: pos + len };
}

/** The children of a constructed element. */
export function children(buf: Buffer, parent: Tlv): Tlv[] {
  const out: Tlv[] = [];
  let pos = parent.contentStart;
  while (pos < parent.end) {
    const t = readTlv(buf, pos);
    out.push(t);
    pos = t.end;
  }
  return out;
}

export function pemToDer(pem: string, label: string): Buffer {
  const re = new RegExp(`-----BEGIN ${label}-----([\\s\\S]*?)-----END ${label}-----`);
  const m = re.exec(pem);
  if (!m) throw new MeshError('PARSE_ERROR', `expected a PEM block "BEGIN ${label}"`);
  const der = Buffer.from(m[1].replace(/\s+/g, ''), 'base64');
  if (der.length === 0) throw new MeshError('PARSE_ERROR', `the PEM ${label} block is empty`);
  return der;
}

export function derToPem(der: Buffer, label: string): string {
  const b64 = der
    .toString('base64')
    .replace(/(.{64})/g, '$1\n')
    .replace(/\n$/, '');
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
}
