// ECDSA P-256 keys and signers on node:crypto (OpenSSL): tens of thousands of signatures a
// second per core, where node-forge's pure-JS RSA manages about 45.
import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { OID } from './oids.js';
import type { Signer } from './csr.js';

export interface KeyPair {
  privateKey: KeyObject;
  spkiDer: Buffer;
  privateKeyPem: string;
}

export function generateKeyPair(): KeyPair {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { privateKey, spkiDer: publicKey.export({ type: 'spki', format: 'der' }), privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string };
}

export function keyPairFromPem(pem: string): KeyPair {
  const privateKey = createPrivateKey(pem);
  return { privateKey, spkiDer: createPublicKey(privateKey).export({ type: 'spki', format: 'der' }), privateKeyPem: pem };
}

export function signerFor(key: KeyObject): Signer {
  const type = key.asymmetricKeyType;
  if (type === 'ec') return { algorithmOid: OID.ecdsaWithSha256, sign: (data) => sign('sha256', data, key) };
  if (type === 'rsa') return { algorithmOid: OID.sha256WithRsa, sign: (data) => sign('sha256', data, key) };
  throw new Error(`unsupported key type ${type}; use EC P-256 or RSA`);
}
