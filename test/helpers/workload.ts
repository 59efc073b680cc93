// A workload's side of identity: a key made locally and a CSR, as a sidecar does it.
import { generateKeyPair, signerFor, type KeyPair } from '../../core/pki/keys.js';
import { buildCsr } from '../../core/pki/x509.js';

export function workloadCsr(uris: string[] = []): { key: KeyPair; csr: string } {
  const key = generateKeyPair();
  return { key, csr: buildCsr(key.spkiDer, { uris }, signerFor(key.privateKey)) };
}
