// The native SO_ORIGINAL_DST reader on real sockets: inside a network namespace of the test's own,
// an iptables REDIRECT sends a connection for 10.254.7.9:5432 to a local listener, which must
// learn where the connection was going; a connection made to the listener itself has no
// original destination.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { netnsAvailable, nodeOutput, removeHosts, sh, uniqueName } from '../helpers/netns.js';

const unavailable = netnsAvailable();
const adapter = new URL('../../proxy/original-destination.js', import.meta.url).pathname;

describe('original destination of a redirected connection (native getsockopt)', { skip: unavailable }, () => {
  const ns = uniqueName('origdst');

  before(() => {
    sh('ip', 'netns', 'add', ns);
    sh('ip', '-n', ns, 'link', 'set', 'lo', 'up');
    // A route for the dialled address (a veth pair with both ends in the namespace); nothing
    // listens there, so only the redirect can answer.
    sh('ip', '-n', ns, 'link', 'add', 'v0', 'type', 'veth', 'peer', 'name', 'v1');
    sh('ip', '-n', ns, 'addr', 'add', '10.254.7.1/24', 'dev', 'v0');
    sh('ip', '-n', ns, 'addr', 'add', 'fd00:254:7::1/64', 'dev', 'v0', 'nodad');
    sh('ip', '-n', ns, 'link', 'set', 'v0', 'up');
    sh('ip', '-n', ns, 'link', 'set', 'v1', 'up');
    sh('ip', 'netns', 'exec', ns, 'iptables', '-t', 'nat', '-A', 'OUTPUT', '-p', 'tcp', '-d', '10.254.7.9', '-j', 'REDIRECT', '--to-ports', '15001');
    sh('ip', 'netns', 'exec', ns, 'ip6tables', '-t', 'nat', '-A', 'OUTPUT', '-p', 'tcp', '-d', 'fd00:254:7::9', '-j', 'REDIRECT', '--to-ports', '15001');
  });

  after(() => removeHosts(ns));

  /** Listens on `listen` (0.0.0.0, or :: for both families, as the sidecar does), dials `host`, and prints what the listener learnt. */
  const probe = (host: string, listen = '0.0.0.0') => `import net from 'node:net';
import { captureOriginalDestination, originalDestinations, originalOf } from ${JSON.stringify(adapter)};
const why = originalDestinations();
if (why) { console.log(JSON.stringify({ unavailable: why })); process.exit(0); }
const server = net.createServer((socket) => {
  const found = captureOriginalDestination(socket);
  console.log(JSON.stringify({ found: found ?? null, remembered: originalOf(socket) ?? null }));
  socket.destroy();
  server.close();
}).listen(15001, ${JSON.stringify(listen)}, () => net.connect({ host: ${JSON.stringify(host)}, port: ${host === '127.0.0.1' ? 15001 : 5432} }).on('error', () => undefined));
setTimeout(() => { console.log('timeout'); process.exit(0); }, 3000).unref();`;

  it('reads the address and port the client dialled', async () => {
    const out = JSON.parse(await nodeOutput(ns, probe('10.254.7.9'))) as { unavailable?: string; found: unknown; remembered: unknown };
    assert.equal(out.unavailable, undefined, `the native reader must be built (scripts/build-native.sh): ${out.unavailable}`);
    assert.deepEqual(out.found, { address: '10.254.7.9', port: 5432 });
    assert.deepEqual(out.remembered, { address: '10.254.7.9', port: 5432 }, 'remembered on the socket for the request handlers');
  });

  it('reads it for IPv6, and for IPv4 on a listener that takes both families', async () => {
    const v6 = JSON.parse(await nodeOutput(ns, probe('fd00:254:7::9', '::'))) as { found: unknown };
    assert.deepEqual(v6.found, { address: 'fd00:254:7::9', port: 5432 });
    const mapped = JSON.parse(await nodeOutput(ns, probe('10.254.7.9', '::'))) as { found: unknown };
    assert.deepEqual(mapped.found, { address: '10.254.7.9', port: 5432 }, 'an IPv4 peer on a dual-stack socket');
  });

  it('finds none for a connection made to the listener itself', async () => {
    const out = JSON.parse(await nodeOutput(ns, probe('127.0.0.1'))) as { found: unknown; remembered: unknown };
    assert.equal(out.found, null);
    assert.equal(out.remembered, null);
  });
});
