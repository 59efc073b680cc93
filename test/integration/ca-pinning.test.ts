// A new host gets the controller's CA bundle from a fingerprint the admin copied from
// `meshctl ca roots`, over real TLS: the right fingerprint gives the bundle; a wrong one, or a
// machine in the middle that offers the real root beside its own certificate, gives nothing.
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { certificateFingerprint, fetchPinnedBundle, normaliseFingerprint } from '../../common/ca-pinning.js';
import { startController, type TestController } from '../helpers/controller.js';

const meshctl = new URL('../../cli/main.js', import.meta.url).pathname;

describe('CA bundle pinned by fingerprint', () => {
  let c: TestController;
  let impostor: Server;
  let impostorUrl = '';

  before(async () => {
    c = await startController();
    // A server with a certificate of its own (made by openssl) that hands out the real roots.
    const dir = mkdtempSync(join(tmpdir(), 'mesh-pin-'));
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-nodes',
        '-keyout',
        join(dir, 'k.pem'),
        '-out',
        join(dir, 'c.pem'),
        '-days',
        '1',
        '-subj',
        '/CN=127.0.0.1',
        '-addext',
        'subjectAltName=IP:127.0.0.1',
      ],
      { stdio: 'ignore' },
    );
    const roots = c.ca();
    impostor = createServer({ key: readFileSync(join(dir, 'k.pem')), cert: readFileSync(join(dir, 'c.pem')) }, (_req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ trustDomain: 'cluster.local', roots: [roots, readFileSync(join(dir, 'c.pem'), 'utf8')] }));
    });
    await new Promise<void>((r) => impostor.listen(0, '127.0.0.1', r));
    impostorUrl = `https://127.0.0.1:${(impostor.address() as { port: number }).port}`;
  });

  after(async () => {
    await new Promise((r) => impostor?.close(r));
    await c?.close();
  });

  it('meshctl ca roots shows the fingerprint openssl would', async () => {
    // Asynchronous: the controller runs in this process and must keep answering.
    const out = await new Promise<string>((resolve, reject) => {
      execFile(process.execPath, [meshctl, '--data-dir', c.dataDir, 'ca', 'roots'], { encoding: 'utf8', env: { ...process.env, MESH_CONTROLLER: '', MESH_TOKEN: '' } }, (err, stdout) =>
        err ? reject(err) : resolve(stdout),
      );
    });
    const expected = execFileSync('openssl', ['x509', '-noout', '-fingerprint', '-sha256'], { input: c.ca(), encoding: 'utf8' }).trim().split('=')[1];
    assert.ok(out.includes(expected), `${out} shows ${expected}`);
  });

  it('gives the bundle for the right fingerprint, in any of the usual spellings', async () => {
    const fp = certificateFingerprint(c.ca());
    for (const spelling of [fp, fp.toLowerCase().replace(/:/g, ''), `SHA256:${fp}`]) assert.equal(await fetchPinnedBundle(c.url, spelling), c.ca());
  });

  it('refuses a wrong fingerprint, saying where to check it', async () => {
    const wrong = 'AB'.repeat(32);
    await assert.rejects(fetchPinnedBundle(c.url, wrong), /no root the controller at .* offers has the fingerprint .*meshctl ca roots/);
    await assert.rejects(fetchPinnedBundle(c.url, 'not-a-fingerprint'), /is not a SHA-256 fingerprint/);
  });

  it('refuses a machine in the middle that shows the real root but is not the controller', async () => {
    await assert.rejects(fetchPinnedBundle(impostorUrl, certificateFingerprint(c.ca())), /does not chain to the pinned root/);
  });

  it('reads fingerprints as people paste them', () => {
    assert.equal(normaliseFingerprint(' sha256:AA:bb' + ':00'.repeat(30) + ' '), 'aabb' + '00'.repeat(30));
    assert.equal(normaliseFingerprint('AA:BB'), undefined);
  });
});
