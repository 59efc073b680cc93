// DestinationRule tcpKeepalive as the kernel holds it: the idle time, interval and probe count
// set on real connections (plain TCP and TLS, before and after they connect), read back with
// getsockopt through native/tcp-keepalive.c.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, createServer, type Socket } from 'node:net';
import { connect as tlsConnect, createServer as createTlsServer } from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { applyKeepalive, keepaliveOf, keepaliveUnavailable } from '../../proxy/tcp-keepalive.js';
import { opensslCa, type OpensslCa } from '../helpers/openssl-ca.js';

describe('TCP keepalive on upstream connections', () => {
  let pki: OpensslCa;
  const servers: { close(): void }[] = [];
  before(() => {
    pki = opensslCa();
    pki.issue('server', { dns: ['localhost'] });
  });
  after(() => {
    for (const s of servers) s.close();
    pki?.remove();
  });

  const plainPort = async () => {
    const s = createServer((c) => c.on('error', () => undefined)).listen(0, '127.0.0.1');
    servers.push(s);
    await once(s, 'listening');
    return (s.address() as { port: number }).port;
  };

  it('the native piece is built (scripts/build-native.sh)', () => {
    assert.equal(keepaliveUnavailable(), undefined);
  });

  it('sets all three on a plain connection, given while it connects', async () => {
    const socket = connect(await plainPort(), '127.0.0.1');
    applyKeepalive(socket, { timeS: 7200, intervalS: 75, probes: 4 });
    await once(socket, 'connect');
    assert.deepEqual(keepaliveOf(socket), { enabled: true, idleSeconds: 7200, intervalSeconds: 75, probes: 4 });
    socket.destroy();
  });

  it('sets it on a TLS connection too, and leaves what the rule does not name to the system', async () => {
    const s = createTlsServer({ cert: pki.read('server.pem'), key: pki.read('server.key') }, (c) => c.on('error', () => undefined)).listen(0, '127.0.0.1');
    servers.push(s);
    await once(s, 'listening');
    const socket = tlsConnect({ host: '127.0.0.1', port: (s.address() as { port: number }).port, ca: pki.read('ca.pem'), servername: 'localhost' });
    socket.on('error', () => undefined);
    await once(socket, 'secureConnect');
    const system = keepaliveOf(socket)!;
    assert.equal(system.enabled, false, 'off until asked');
    applyKeepalive(socket, { intervalS: 30 });
    assert.deepEqual(keepaliveOf(socket), { enabled: true, idleSeconds: system.idleSeconds, intervalSeconds: 30, probes: system.probes });
    socket.destroy();
  });

  it('does nothing without a rule', async () => {
    const socket: Socket = connect(await plainPort(), '127.0.0.1');
    applyKeepalive(socket, undefined);
    await once(socket, 'connect');
    assert.equal(keepaliveOf(socket)?.enabled, false);
    socket.destroy();
  });
});
