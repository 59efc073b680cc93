// X.509 certificates built, and CSRs parsed, with node-forge's ASN.1 structures. Signing and verifying
// are delegated to a Signer/verify function over raw bytes, so the keys can be ECDSA P-256 and
// signed natively: node-forge's own RSA signing (pure JS) manages about 45 leaves a second.
import { createPublicKey, verify as cryptoVerify, type KeyObject } from 'node:crypto';
import forge from 'node-forge';
import { MeshError } from '../errors.js';
import { children, derToPem, pemToDer, readTlv } from './der.js';
import { OID, SIGNATURE_HASH } from './oids.js';
import { generalNames, type Signer, type SubjectAltNames } from './csr.js';
import { keyIdentifier } from './certificate-info.js';

const { asn1 } = forge;
type Asn1 = forge.asn1.Asn1;
const U = asn1.Class.UNIVERSAL;
const T = asn1.Type;

export type { Signer, SubjectAltNames } from './csr.js';
export { buildCsr } from './csr.js';
export { certificateInfo, keyIdentifier, type CertificateInfo } from './certificate-info.js';

export interface CertificateTemplate {
  serial: Buffer;
  /** Subject attributes; an empty subject (SPIFFE leaves) makes the SAN extension critical. */
  subject: { commonName?: string; organization?: string };
  /** DER of the issuer's Name; omitted for a self-signed certificate. */
  issuerNameDer?: Buffer;
  notBefore: Date;
  notAfter: Date;
  /** DER SubjectPublicKeyInfo of the certified key. */
  spkiDer: Buffer;
  isCa: boolean;
  san?: SubjectAltNames;
  /** Subject key identifier of the issuer; omitted for a self-signed certificate. */
  authorityKeyId?: Buffer;
}

const bin = (b: Buffer) => b.toString('binary');
const buf = (s: string) => Buffer.from(s, 'binary');
const der = (a: Asn1) => buf(asn1.toDer(a).getBytes());
const fromDer = (b: Buffer) => asn1.fromDer(bin(b));
const oid = (o: string) => asn1.create(U, T.OID, false, asn1.oidToDer(o).getBytes());
const seq = (v: Asn1[]) => asn1.create(U, T.SEQUENCE, true, v);

function algorithmIdentifier(algorithmOid: string): Asn1 {
  // RSA signature algorithms carry an explicit NULL parameter; ECDSA ones carry none.
  return algorithmOid.startsWith('1.2.840.113549') ? seq([oid(algorithmOid), asn1.create(U, T.NULL, false, '')]) : seq([oid(algorithmOid)]);
}

function name(subject: CertificateTemplate['subject']): Asn1 {
  const rdns: Asn1[] = [];
  const attr = (o: string, v: string) => asn1.create(U, T.SET, true, [seq([oid(o), asn1.create(U, T.UTF8, false, forge.util.encodeUtf8(v))])]);
  if (subject.organization) rdns.push(attr(OID.organization, subject.organization));
  if (subject.commonName) rdns.push(attr(OID.commonName, subject.commonName));
  return seq(rdns);
}

function time(d: Date): Asn1 {
  // RFC 5280: UTCTime through 2049, GeneralizedTime after.
  return d.getUTCFullYear() < 2050 ? asn1.create(U, T.UTCTIME, false, asn1.dateToUtcTime(d)) : asn1.create(U, T.GENERALIZEDTIME, false, asn1.dateToGeneralizedTime(d));
}

function extension(o: string, critical: boolean, value: Asn1): Asn1 {
  const parts = [oid(o)];
  if (critical) parts.push(asn1.create(U, T.BOOLEAN, false, '\xff'));
  parts.push(asn1.create(U, T.OCTETSTRING, false, asn1.toDer(value).getBytes()));
  return seq(parts);
}

function sanValue(san: SubjectAltNames): Asn1 {
  return fromDer(generalNames(san));
}

function positiveInteger(b: Buffer): Asn1 {
  const bytes = b[0] & 0x80 ? Buffer.concat([Buffer.from([0]), b]) : b;
  return asn1.create(U, T.INTEGER, false, bin(bytes));
}

export function buildCertificate(t: CertificateTemplate, signer: Signer): string {
  const subject = name(t.subject);
  const emptySubject = !t.subject.commonName && !t.subject.organization;
  const ski = keyIdentifier(t.spkiDer);
  const exts: Asn1[] = [
    extension(OID.basicConstraints, true, seq(t.isCa ? [asn1.create(U, T.BOOLEAN, false, '\xff')] : [])),
    // CA: keyCertSign + cRLSign; leaf: digitalSignature + keyEncipherment.
    extension(OID.keyUsage, true, asn1.create(U, T.BITSTRING, false, t.isCa ? '\x01\x06' : '\x05\xa0')),
    extension(OID.subjectKeyIdentifier, false, asn1.create(U, T.OCTETSTRING, false, bin(ski))),
  ];
  if (!t.isCa) exts.push(extension(OID.extKeyUsage, false, seq([oid(OID.serverAuth), oid(OID.clientAuth)])));
  if (t.authorityKeyId) exts.push(extension(OID.authorityKeyIdentifier, false, seq([asn1.create(asn1.Class.CONTEXT_SPECIFIC, 0, false, bin(t.authorityKeyId))])));
  if (t.san && (t.san.uris?.length ?? 0) + (t.san.dnsNames?.length ?? 0) + (t.san.ips?.length ?? 0) > 0) {
    exts.push(extension(OID.subjectAltName, emptySubject, sanValue(t.san)));
  }
  const tbs = seq([
    asn1.create(asn1.Class.CONTEXT_SPECIFIC, 0, true, [asn1.create(U, T.INTEGER, false, '\x02')]),
    positiveInteger(t.serial),
    algorithmIdentifier(signer.algorithmOid),
    t.issuerNameDer ? fromDer(t.issuerNameDer) : subject,
    seq([time(t.notBefore), time(t.notAfter)]),
    subject,
    fromDer(t.spkiDer),
    asn1.create(asn1.Class.CONTEXT_SPECIFIC, 3, true, [seq(exts)]),
  ]);
  const tbsDer = der(tbs);
  const signature = signer.sign(tbsDer);
  const cert = der(seq([fromDer(tbsDer), algorithmIdentifier(signer.algorithmOid), asn1.create(U, T.BITSTRING, false, '\x00' + bin(signature))]));
  return derToPem(cert, 'CERTIFICATE');
}

export interface ParsedCsr {
  spkiDer: Buffer;
  publicKey: KeyObject;
  uris: string[];
  dnsNames: string[];
}

/** Parses a PKCS#10 CSR and verifies its self-signature (proof that the requester holds the key). */
export function parseCsr(pem: string): ParsedCsr {
  const csrDer = pemToDer(pem, 'CERTIFICATE REQUEST');
  try {
    const top = readTlv(csrDer, 0);
    const [info, sigAlg, sig] = children(csrDer, top);
    if (!info || !sigAlg || !sig) throw new MeshError('PARSE_ERROR', 'the CSR is missing parts');
    const infoFields = children(csrDer, info);
    const spki = infoFields[2];
    const spkiDer = csrDer.subarray(spki.start, spki.end);
    const publicKey = createPublicKey({ key: spkiDer, format: 'der', type: 'spki' });
    const algOid = asn1.derToOid(forge.util.createBuffer(bin(csrDer.subarray(children(csrDer, sigAlg)[0].contentStart, children(csrDer, sigAlg)[0].end))));
    const hash = SIGNATURE_HASH[algOid];
    if (!hash) throw new MeshError('INVALID_ARGUMENT', `the CSR is signed with algorithm ${algOid}; use ECDSA or RSA with SHA-256 or SHA-384`);
    const signature = csrDer.subarray(sig.contentStart + 1, sig.end);
    if (!cryptoVerify(hash, csrDer.subarray(info.start, info.end), publicKey, signature)) {
      throw new MeshError('INVALID_ARGUMENT', 'the CSR signature does not verify: it was not signed by the key it carries');
    }
    const san = csrSubjectAltNames(infoFields[3] ? fromDer(csrDer.subarray(infoFields[3].start, infoFields[3].end)) : undefined);
    return { spkiDer, publicKey, ...san };
  } catch (err) {
    if (err instanceof MeshError) throw err;
    throw new MeshError('PARSE_ERROR', `not a valid certificate signing request: ${(err as Error).message}`, { cause: err });
  }
}

function csrSubjectAltNames(attributes: Asn1 | undefined): { uris: string[]; dnsNames: string[] } {
  const out = { uris: [] as string[], dnsNames: [] as string[] };
  for (const attr of (attributes?.value as Asn1[] | undefined) ?? []) {
    const [attrOid, values] = attr.value as Asn1[];
    if (asn1.derToOid(attrOid.value as string) !== OID.extensionRequest) continue;
    for (const exts of values.value as Asn1[]) {
      for (const ext of exts.value as Asn1[]) {
        const parts = ext.value as Asn1[];
        if (asn1.derToOid(parts[0].value as string) !== OID.subjectAltName) continue;
        const names = asn1.fromDer(parts[parts.length - 1].value as string);
        for (const n of names.value as Asn1[]) {
          if (n.type === 6) out.uris.push(n.value as string);
          else if (n.type === 2) out.dnsNames.push(n.value as string);
        }
      }
    }
  }
  return out;
}
