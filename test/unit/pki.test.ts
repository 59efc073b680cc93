import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { MeshError } from '../../core/errors.js';
import { createRoot, SigningRoot } from '../../core/pki/ca.js';
import { certificateInfo, parseCsr } from '../../core/pki/x509.js';
import { buildCsr } from '../../core/pki/csr.js';
import { generateKeyPair, signerFor } from '../../core/pki/keys.js';
import { workloadCsr } from '../helpers/workload.js';

const dir = mkdtempSync(join(tmpdir(), 'mesh-pki-'));
const file = (name: string, text: string) => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};
const opensslVerify = (roots: string, leaf: string) => execFileSync('openssl', ['verify', '-CAfile', file('roots.pem', roots), file('leaf.pem', leaf)], { encoding: 'utf8' });
const reviews = { trustDomain: 'mesh.test', namespace: 'default', service: 'reviews' };
const DAY = 86_400_000;

describe('certificate authority', () => {
  const root = createRoot('mesh.test', new Date(), 365 * DAY);
  const signing = new SigningRoot(root);

  it('issues a leaf with the SPIFFE URI SAN that openssl verifies against the root', () => {
    const { csr } = workloadCsr();
    const leaf = signing.issueLeaf(csr, reviews, DAY, new Date());
    assert.match(opensslVerify(root.certPem, leaf), /leaf\.pem: OK/);
    const info = certificateInfo(leaf);
    assert.deepEqual(info.uris, ['spiffe://mesh.test/ns/default/sa/reviews']);
    assert.equal(info.isCa, false);
    const lifetime = info.notAfter.getTime() - Date.now();
    assert.ok(lifetime > DAY - 120_000 && lifetime <= DAY, `lifetime ${lifetime}`);
    const text = execFileSync('openssl', ['x509', '-in', file('l.pem', leaf), '-noout', '-text'], { encoding: 'utf8' });
    assert.match(text, /TLS Web Server Authentication, TLS Web Client Authentication/);
    assert.match(text, /CA:FALSE/);
  });

  it('refuses a CSR that asks for another identity, naming both', () => {
    const { csr } = workloadCsr(['spiffe://mesh.test/ns/default/sa/ratings']);
    assert.throws(
      () => signing.issueLeaf(csr, reviews, DAY, new Date()),
      (e: MeshError) => e.code === 'PERMISSION_DENIED' && e.message.includes('sa/ratings') && e.message.includes('sa/reviews'),
    );
  });

  it('refuses a CSR whose signature does not match its key, and garbage', () => {
    const { csr } = workloadCsr();
    const der = Buffer.from(csr.replace(/-----[^-]+-----|\s/g, ''), 'base64');
    der[der.length - 5] ^= 0xff; // flip a bit of the signature
    const tampered = `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`;
    assert.throws(
      () => parseCsr(tampered),
      (e: MeshError) => e.code === 'INVALID_ARGUMENT' || e.code === 'PARSE_ERROR',
    );
    assert.throws(
      () => parseCsr('hello'),
      (e: MeshError) => e.code === 'PARSE_ERROR' && /BEGIN CERTIFICATE REQUEST/.test(e.message),
    );
  });

  it('verifies leaves of the old and the new root with a two-root bundle (rotation)', () => {
    const newRoot = createRoot('mesh.test', new Date(), 365 * DAY);
    const oldLeaf = signing.issueLeaf(workloadCsr().csr, reviews, DAY, new Date());
    const newLeaf = new SigningRoot(newRoot).issueLeaf(workloadCsr().csr, reviews, DAY, new Date());
    const bundle = newRoot.certPem + root.certPem;
    assert.match(opensslVerify(bundle, oldLeaf), /OK/);
    assert.match(opensslVerify(bundle, newLeaf), /OK/);
    assert.throws(() => opensslVerify(newRoot.certPem, oldLeaf), /unable to get local issuer|verification failed/);
  });

  it('never issues a leaf that outlives its root', () => {
    const shortRoot = new SigningRoot(createRoot('mesh.test', new Date(), 3_600_000));
    const leaf = shortRoot.issueLeaf(workloadCsr().csr, reviews, DAY, new Date());
    assert.ok(certificateInfo(leaf).notAfter.getTime() <= shortRoot.notAfter.getTime());
  });
});

describe('certificate requests without an ASN.1 library (what sidecars build)', () => {
  it('builds a CSR that openssl reads and verifies, with every kind of alternative name', () => {
    const key = generateKeyPair();
    const csr = buildCsr(key.spkiDer, { uris: ['spiffe://mesh.test/ns/default/sa/reviews'], dnsNames: ['reviews.local'], ips: ['10.0.0.7', 'fd00::1:2'] }, signerFor(key.privateKey), 'reviews');
    const text = execFileSync('openssl', ['req', '-in', file('req.pem', csr), '-noout', '-text', '-verify'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    assert.match(text, /Subject: CN\s*=\s*reviews/);
    assert.match(text, /URI:spiffe:\/\/mesh\.test\/ns\/default\/sa\/reviews/);
    assert.match(text, /DNS:reviews\.local/);
    assert.match(text, /IP Address:10\.0\.0\.7/);
    assert.match(text, /IP Address:FD00:0:0:0:0:0:1:2/i);
    assert.deepEqual(parseCsr(csr).uris, ['spiffe://mesh.test/ns/default/sa/reviews'], 'the controller parses it and checks its signature');
    assert.throws(() => buildCsr(key.spkiDer, { ips: ['10.0.0.256'] }, signerFor(key.privateKey)), /not an IP address/);
  });
});
