// PKCS#10 certificate requests (RFC 2986) for a key the caller holds: a subject (at most a
// common name), the public key, and the subject alternative names asked for, self-signed to
// prove possession. Used by sidecars, meshctl and the demo; the controller only parses them.
import { MeshError } from '../errors.js';
import { derToPem } from './der.js';
import { bitString, nullValue, objectIdentifier, octetString, sequence, set, smallInteger, tagged, utf8String } from './der-write.js';
import { OID } from './oids.js';

/** Signs the bytes of a to-be-signed structure; `algorithmOid` names the signature algorithm. */
export interface Signer {
  algorithmOid: string;
  sign(data: Buffer): Buffer;
}

export interface SubjectAltNames {
  uris?: string[];
  dnsNames?: string[];
  ips?: string[];
}

export function buildCsr(spkiDer: Buffer, san: SubjectAltNames, signer: Signer, commonName?: string): string {
  const subject = commonName ? sequence(set(sequence(objectIdentifier(OID.commonName), utf8String(commonName)))) : sequence();
  const extensions = sequence(sequence(objectIdentifier(OID.subjectAltName), octetString(generalNames(san))));
  const attributes = tagged(0, true, sequence(objectIdentifier(OID.extensionRequest), set(extensions)));
  const info = sequence(smallInteger(0), subject, spkiDer, attributes);
  // RSA signature algorithms carry an explicit NULL parameter; ECDSA ones carry none.
  const algorithm = signer.algorithmOid.startsWith('1.2.840.113549') ? sequence(objectIdentifier(signer.algorithmOid), nullValue()) : sequence(objectIdentifier(signer.algorithmOid));
  return derToPem(sequence(info, algorithm, bitString(signer.sign(info))), 'CERTIFICATE REQUEST');
}

/** GeneralNames: URIs [6], DNS names [2] (IA5 strings) and IP addresses [7] (4 or 16 bytes). */
export function generalNames(san: SubjectAltNames): Buffer {
  const names: Buffer[] = [];
  for (const u of san.uris ?? []) names.push(tagged(6, false, Buffer.from(u, 'latin1')));
  for (const d of san.dnsNames ?? []) names.push(tagged(2, false, Buffer.from(d, 'latin1')));
  for (const ip of san.ips ?? []) names.push(tagged(7, false, ipBytes(ip)));
  return sequence(...names);
}

function ipBytes(ip: string): Buffer {
  const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(ip);
  if (v4) {
    const octets = v4.slice(1).map(Number);
    if (octets.every((o) => o <= 255)) return Buffer.from(octets);
  } else if (ip.includes(':') && /^[0-9a-fA-F:]+$/.test(ip)) {
    const [head, tail, extra] = ip.split('::');
    const groups = (s: string | undefined) => (s ? s.split(':') : []);
    const h = groups(head);
    const t = groups(tail);
    const missing = 8 - h.length - t.length;
    if (extra === undefined && (tail === undefined ? missing === 0 : missing >= 1) && [...h, ...t].every((g) => g.length >= 1 && g.length <= 4)) {
      const all = [...h, ...new Array<string>(tail === undefined ? 0 : missing).fill('0'), ...t];
      return Buffer.from(all.flatMap((g) => [parseInt(g, 16) >> 8, parseInt(g, 16) & 0xff]));
    }
  }
  throw new MeshError('INVALID_ARGUMENT', `"${ip}" is not an IP address`);
}
