// The mesh identity's TLS context is made once per identity and reused by every connection; a
// renewed certificate or a new trust bundle must reach the next handshake. Real TLS on real
// sockets: a server that asks for client certificates reports which one each connection showed.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, createServer, type ConnectionOptions, type Server, type TLSSocket } from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CREDENTIAL_RECHECK_MS, OriginationError, tlsOptionsFor } from '../../proxy/tls-origination.js';
import type { IdentityMaterial } from '../../proxy/identity.js';
import { opensslCa, type OpensslCa } from '../helpers/openssl-ca.js';

const SERVER_ID = 'spiffe://cluster.local/ns/default/sa/reviews';

/** A TLS server with `name`'s certificate that asks for a client certificate from `ca` and writes back its CN. */
async function cnEchoServer(ca: OpensslCa, name: string): Promise<{ server: Server; port: number }> {
  const server = createServer({ cert: ca.read(`${name}.pem`), key: ca.read(`${name}.key`), ca: ca.read('ca.pem'), requestCert: true, rejectUnauthorized: true }, (s: TLSSocket) => {
    s.end(String(s.getPeerCertificate().subject?.CN));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, port: (server.address() as { port: number }).port };
}

/** Connects with `opts`; resolves with the client certificate's CN the server (which writes it back) saw, or rejects. */
async function clientCnSeen(port: number, opts: ConnectionOptions | undefined): Promise<string> {
  const socket = connect({ host: '127.0.0.1', port, ...opts });
  try {
    await once(socket, 'secureConnect');
    const [line] = (await once(socket, 'data')) as [Buffer];
    return line.toString();
  } finally {
    socket.destroy();
  }
}

describe('mesh mTLS origination', () => {
  let ca: OpensslCa;
  let other: OpensslCa;
  let server: Server;
  let port = 0;

  const identity = (name: string, trust = [ca.read('ca.pem')]): IdentityMaterial => ({
    certPem: ca.read(`${name}.pem`),
    keyPem: ca.read(`${name}.key`),
    trustBundle: trust,
    identity: `spiffe://cluster.local/ns/default/sa/${name}`,
    notAfter: new Date(Date.now() + 86_400_000),
  });

  /** Connects as the identity; resolves with the client certificate's CN the server saw, or rejects. */
  const shownBy = (id: IdentityMaterial): Promise<string> => clientCnSeen(port, tlsOptionsFor({ kind: 'mesh-mtls', port, expectedIds: [SERVER_ID] }, id, ['http/1.1']));

  before(async () => {
    ca = opensslCa('/CN=mesh root');
    other = opensslCa('/CN=another root');
    ca.issue('server', { uri: [SERVER_ID] });
    for (const name of ['web-1', 'web-2']) ca.issue(name, { uri: [`spiffe://cluster.local/ns/default/sa/${name}`], client: true });
    ({ server, port } = await cnEchoServer(ca, 'server'));
  });

  after(() => {
    server?.close();
    ca?.remove();
    other?.remove();
  });

  it('shows the current certificate on every new connection, the renewed one once it changes', async () => {
    const first = identity('web-1');
    assert.equal(await shownBy(first), 'web-1');
    assert.equal(await shownBy(first), 'web-1', 'the same identity again');
    // Renewal replaces the material: the next handshake shows the new certificate.
    assert.equal(await shownBy(identity('web-2')), 'web-2');
  });

  it('checks the server against the trust bundle the identity holds now', async () => {
    const trusting = identity('web-1');
    assert.equal(await shownBy(trusting), 'web-1');
    // The same certificate with a bundle that no longer has the server's root: refused.
    const distrusting = { ...trusting, trustBundle: [other.read('ca.pem')] };
    await assert.rejects(shownBy(distrusting), /certificate/i);
  });
});

describe('TLS origination from the files a DestinationRule names', () => {
  let ca: OpensslCa;
  let server: Server;
  let port = 0;
  let dir: string;

  /** Connects with MUTUAL TLS from the files; resolves with the client certificate's CN the server saw. */
  const shown = (files = { ca: ca.path('ca.pem'), cert: join(dir, 'client.pem'), key: join(dir, 'client.key') }): Promise<string> =>
    clientCnSeen(
      port,
      tlsOptionsFor(
        {
          kind: 'tls',
          port,
          mutual: true,
          servername: 'api.example.com',
          verifyNames: ['api.example.com'],
          caCertificates: files.ca,
          clientCertificate: files.cert,
          privateKey: files.key,
          insecureSkipVerify: false,
        },
        undefined,
        ['http/1.1'],
      ),
    );
  /** Puts `name`'s certificate and key where the rule's files are, as a rotation rewrites them. */
  const install = (name: string) => {
    copyFileSync(ca.path(`${name}.pem`), join(dir, 'client.pem'));
    copyFileSync(ca.path(`${name}.key`), join(dir, 'client.key'));
  };

  before(async () => {
    ca = opensslCa('/CN=partner root');
    ca.issue('api', { dns: ['api.example.com'] });
    for (const name of ['partner-a', 'partner-b']) ca.issue(name, { client: true });
    dir = mkdtempSync(join(tmpdir(), 'mesh-dr-files-'));
    ({ server, port } = await cnEchoServer(ca, 'api'));
  });

  after(() => {
    server?.close();
    ca?.remove();
    rmSync(dir, { recursive: true, force: true });
  });

  it('presents the certificate in the files, and a rotated one once the files change', async () => {
    install('partner-a');
    assert.equal(await shown(), 'partner-a');
    assert.equal(await shown(), 'partner-a', 'again, from the same files');
    install('partner-b');
    await new Promise((r) => setTimeout(r, CREDENTIAL_RECHECK_MS + 100));
    assert.equal(await shown(), 'partner-b');
  });

  it('fails the connection, naming the file, when a file cannot be read', () => {
    assert.throws(
      () => tlsOptionsFor({ kind: 'tls', port, mutual: false, verifyNames: ['api.example.com'], caCertificates: join(dir, 'nowhere.pem'), insecureSkipVerify: false }, undefined, ['http/1.1']),
      (err: Error) => err instanceof OriginationError && /tls\.caCertificates .*nowhere\.pem cannot be read: ENOENT/.test(err.message),
    );
  });
});
