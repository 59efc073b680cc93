// The certificate authority's decisions: making a root, and turning a CSR into a leaf for
// exactly the identity the caller is entitled to. Storage and rotation live in controller/ca.
import { randomBytes } from 'node:crypto';
import { MeshError } from '../errors.js';
import { keyPairFromPem, generateKeyPair, signerFor } from './keys.js';
import { formatSpiffe, type SpiffeIdentity } from './spiffe.js';
import { buildCertificate, certificateInfo, parseCsr, type SubjectAltNames } from './x509.js';

export interface RootMaterial {
  certPem: string;
  keyPem: string;
}

/** Clock skew allowance: leaves are valid from a minute ago so a peer's slow clock accepts them. */
const BACKDATE_MS = 60_000;

export function createRoot(trustDomain: string, now: Date, lifetimeMs: number): RootMaterial {
  const key = generateKeyPair();
  const certPem = buildCertificate(
    {
      serial: serial(),
      subject: { organization: trustDomain, commonName: `mesh root ${now.toISOString().slice(0, 10)} ${randomBytes(3).toString('hex')}` },
      notBefore: new Date(now.getTime() - BACKDATE_MS),
      notAfter: new Date(now.getTime() + lifetimeMs),
      spkiDer: key.spkiDer,
      isCa: true,
    },
    signerFor(key.privateKey),
  );
  return { certPem, keyPem: key.privateKeyPem };
}

/** A loaded signing root, parsed once so that issuing a leaf does no parsing of the root. */
export class SigningRoot {
  readonly certPem: string;
  readonly notAfter: Date;
  private readonly issuerNameDer: Buffer;
  private readonly keyId: Buffer;
  private readonly signer;

  constructor(material: RootMaterial) {
    const info = certificateInfo(material.certPem);
    this.certPem = material.certPem;
    this.notAfter = info.notAfter;
    this.issuerNameDer = info.subjectNameDer;
    this.keyId = info.subjectKeyId;
    this.signer = signerFor(keyPairFromPem(material.keyPem).privateKey);
  }

  /**
   * Issues a leaf for `identity` from a CSR. The CSR may name no URI (we add the entitled one)
   * or exactly the entitled one; anything else is refused with the mismatch named.
   */
  issueLeaf(csrPem: string, identity: SpiffeIdentity, ttlMs: number, now: Date, extra: Omit<SubjectAltNames, 'uris'> = {}): string {
    const csr = parseCsr(csrPem);
    const entitled = formatSpiffe(identity);
    const others = csr.uris.filter((u) => u !== entitled);
    if (others.length > 0) {
      throw new MeshError('PERMISSION_DENIED', `the CSR asks for identity ${others.join(', ')}, but the credential presented is for ${entitled}`, { details: { requested: others, entitled } });
    }
    // A leaf never outlives its root.
    const notAfter = new Date(Math.min(now.getTime() + ttlMs, this.notAfter.getTime()));
    return buildCertificate(
      {
        serial: serial(),
        subject: {},
        issuerNameDer: this.issuerNameDer,
        notBefore: new Date(now.getTime() - BACKDATE_MS),
        notAfter,
        spkiDer: csr.spkiDer,
        isCa: false,
        san: { uris: [entitled], ...extra },
        authorityKeyId: this.keyId,
      },
      this.signer,
    );
  }
}

function serial(): Buffer {
  const b = randomBytes(16);
  b[0] &= 0x7f; // positive
  if (b[0] === 0) b[0] = 1;
  return b;
}
