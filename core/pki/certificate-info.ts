// The fields of a certificate the mesh reads, through node:crypto's X509Certificate and a DER
// slice or two: no ASN.1 library, so that sidecars do not load one.
import { X509Certificate, createHash } from 'node:crypto';
import { MeshError } from '../errors.js';
import { children, pemToDer, readTlv } from './der.js';

export interface CertificateInfo {
  subjectNameDer: Buffer;
  subjectKeyId: Buffer;
  spkiDer: Buffer;
  notBefore: Date;
  notAfter: Date;
  serialHex: string;
  uris: string[];
  dnsNames: string[];
  isCa: boolean;
  fingerprint256: string;
}

/** Reads the fields the mesh needs from a PEM certificate. */
export function certificateInfo(pem: string): CertificateInfo {
  const certDer = pemToDer(pem, 'CERTIFICATE');
  const top = readTlv(certDer, 0);
  const [tbs] = children(certDer, top);
  const fields = children(certDer, tbs);
  // After the explicit version tag: serial, signature algorithm, issuer, validity, subject, SPKI.
  const at = (i: number) => fields[i + (fields[0].tag === 0xa0 ? 1 : 0)];
  const subject = at(4);
  const spki = at(5);
  const spkiDer = certDer.subarray(spki.start, spki.end);
  let x: X509Certificate;
  try {
    x = new X509Certificate(certDer);
  } catch (err) {
    throw new MeshError('PARSE_ERROR', `not a valid certificate: ${(err as Error).message}`, { cause: err });
  }
  const sans = (x.subjectAltName ?? '').split(', ').filter(Boolean);
  return {
    subjectNameDer: certDer.subarray(subject.start, subject.end),
    subjectKeyId: keyIdentifier(spkiDer),
    spkiDer,
    notBefore: new Date(x.validFrom),
    notAfter: new Date(x.validTo),
    serialHex: x.serialNumber,
    uris: sans.filter((s) => s.startsWith('URI:')).map((s) => s.slice(4)),
    dnsNames: sans.filter((s) => s.startsWith('DNS:')).map((s) => s.slice(4)),
    isCa: x.ca,
    fingerprint256: x.fingerprint256,
  };
}

/** SHA-1 of the subjectPublicKey bits (RFC 5280 method 1). */
export function keyIdentifier(spkiDer: Buffer): Buffer {
  const spki = readTlv(spkiDer, 0);
  const [, bits] = children(spkiDer, spki);
  return createHash('sha1')
    .update(spkiDer.subarray(bits.contentStart + 1, bits.end))
    .digest();
}
