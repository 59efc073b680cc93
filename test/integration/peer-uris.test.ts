// A connection's peer URI names (common/peer-uris.ts) are read from the certificate Node wraps
// (getPeerX509Certificate), not from the object getPeerCertificate builds, which costs eight times
// as much. Over real mutual TLS with certificates openssl made: the names are exactly those the
// certificate object gives, whatever else the certificate names, and none without a certificate.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, connect, type TLSSocket } from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { peerUris } from '../../common/peer-uris.js';
import { uriSans } from '../../core/pki/spiffe.js';
import { opensslCa, type OpensslCa } from '../helpers/openssl-ca.js';

describe('peer URI names over mutual TLS', () => {
  let ca: OpensslCa;
  const clients: Record<string, { dns?: string[]; uri?: string[] }> = {
    one: { uri: ['spiffe://cluster.local/ns/default/sa/reviews'] },
    several: { dns: ['reviews.default.svc'], uri: ['spiffe://cluster.local/ns/default/sa/reviews', 'spiffe://other.domain/ns/x/sa/y'] },
    dnsOnly: { dns: ['reviews.default.svc'] },
  };

  before(() => {
    ca = opensslCa();
    ca.issue('server', { dns: ['localhost'] });
    for (const [name, opts] of Object.entries(clients)) ca.issue(name, { ...opts, client: true });
  });

  after(() => ca.remove());

  /** The server's side of one connection from a client with certificate `name` (none: without a certificate). */
  async function serverSide(name?: string): Promise<TLSSocket> {
    const server = createServer({ key: ca.read('server.key'), cert: ca.read('server.pem'), ca: ca.read('ca.pem'), requestCert: true, rejectUnauthorized: false });
    const accepted = once(server, 'secureConnection') as Promise<[TLSSocket]>;
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as { port: number };
    const client = connect({ host: '127.0.0.1', port, ca: ca.read('ca.pem'), servername: 'localhost', ...(name ? { key: ca.read(`${name}.key`), cert: ca.read(`${name}.pem`) } : {}) });
    client.on('error', () => undefined);
    const [socket] = await accepted;
    client.destroy();
    server.close();
    return socket;
  }

  for (const name of Object.keys(clients)) {
    it(`reads the names getPeerCertificate gives: ${name}`, async () => {
      const socket = await serverSide(name);
      const expected = uriSans(socket.getPeerCertificate().subjectaltname);
      assert.deepEqual(peerUris(socket), expected);
      assert.deepEqual(peerUris(socket), expected, 'read again from the connection');
      assert.equal(expected.length, (clients[name].uri ?? []).length);
    });
  }

  it('reads none from a connection without a certificate', async () => {
    assert.deepEqual(peerUris(await serverSide()), []);
  });
});
