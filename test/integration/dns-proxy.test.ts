// The sidecar's DNS proxy over real sockets: Node's own resolver (and a hand-made DNS-over-TCP
// query) asks a real sidecar; mesh names come from the snapshot, everything else goes to "the
// host's resolver", here a small DNS server on loopback made with dns-packet (tests send no
// traffic off this machine). Messages that are not DNS, fuzzed, never stop it answering.
import assert from 'node:assert/strict';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { Resolver } from 'node:dns/promises';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import dnsPacket from 'dns-packet';
import fc from 'fast-check';
import type { Sidecar } from '../../proxy/sidecar.js';
import { startApp, type TestApp } from '../helpers/apps.js';
import { startController, type TestController } from '../helpers/controller.js';
import { waitFor } from '../helpers/ports.js';
import { startSidecar } from '../helpers/sidecar.js';

describe('DNS proxy', () => {
  let c: TestController;
  let app: TestApp;
  let client: Sidecar;
  let upstream: UdpSocket;
  const asked: string[] = [];
  let resolver: Resolver;

  before(async () => {
    // The host's resolver: answers outside.example with 192.0.2.7, everything else NXDOMAIN.
    upstream = createSocket('udp4');
    upstream.on('message', (msg, from) => {
      let q: dnsPacket.Packet;
      try {
        q = dnsPacket.decode(msg);
      } catch {
        return; // fuzzed bytes the sidecar passed on as they came
      }
      const name = q.questions?.[0]?.name ?? '';
      asked.push(name);
      const answers = name === 'outside.example' ? [{ type: 'A' as const, name, ttl: 60, data: '192.0.2.7' }] : [];
      if (q.type !== 'query') return;
      let reply: Buffer;
      try {
        reply = dnsPacket.encode({ type: 'response', id: q.id, flags: answers.length ? 0 : 3, questions: q.questions, answers });
      } catch {
        return;
      }
      upstream.send(reply, from.port, from.address);
    });
    await new Promise<void>((r) => upstream.bind(0, '127.0.0.1', r));
    c = await startController();
    app = await startApp('reviews');
    for (const [id, address, ns] of [
      ['reviews-1', '10.1.0.1', 'default'],
      ['reviews-2', '10.1.0.2', 'default'],
      ['ratings-1', '10.1.0.9', 'prod'],
    ]) {
      const r = await c.call('POST', '/v1/catalog/instances', { id, service: id.split('-')[0], namespace: ns, address, port: 9080, protocol: 'http', sidecar: { inboundPort: 15006 } });
      assert.ok(r.status < 300, r.text);
    }
    client = await startSidecar(c, 'web', app.port, { dns: { port: 0, upstream: { host: '127.0.0.1', port: (upstream.address() as { port: number }).port } } });
    await waitFor('both services at the client', () => client.snapshot?.outbound.services.length === 2, 5000);
    resolver = new Resolver({ timeout: 2000, tries: 1 });
    resolver.setServers([`127.0.0.1:${client.ports.dns}`]);
  });

  after(async () => {
    await client?.close();
    await app?.close();
    await c?.close();
    upstream?.close();
  });

  it("answers a mesh service's names with its endpoints, as the caller's namespace resolves them", async () => {
    for (const name of ['reviews', 'reviews.default', 'reviews.default.svc.cluster.local', 'REVIEWS.service.consul', 'reviews.default.svc.cluster.local.'])
      assert.deepEqual((await resolver.resolve4(name)).sort(), ['10.1.0.1', '10.1.0.2'], name);
    assert.deepEqual(await resolver.resolve4('ratings.prod'), ['10.1.0.9']);
    assert.equal(asked.length, 0, 'none of these went to the host resolver');
  });

  it('says a mesh name has no IPv6 address rather than that it does not exist', async () => {
    await assert.rejects(resolver.resolve6('reviews'), (err: NodeJS.ErrnoException) => err.code === 'ENODATA');
  });

  it('forwards every other name to the host resolver and passes its answer back', async () => {
    assert.deepEqual(await resolver.resolve4('outside.example'), ['192.0.2.7']);
    await assert.rejects(resolver.resolve4('nowhere.example'), (err: NodeJS.ErrnoException) => err.code === 'ENOTFOUND');
    // A short name of another namespace is not a mesh name here (Kubernetes DNS would not resolve it either).
    await assert.rejects(resolver.resolve4('ratings'), (err: NodeJS.ErrnoException) => err.code === 'ENOTFOUND');
    assert.deepEqual(asked, ['outside.example', 'nowhere.example', 'ratings']);
  });

  it('answers over TCP, each message with its length', async () => {
    const query = dnsPacket.encode({ type: 'query', id: 4242, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type: 'A', name: 'reviews' }] });
    const reply = await new Promise<Buffer>((resolve, reject) => {
      const s = connect(client.ports.dns, '127.0.0.1', () => {
        const len = Buffer.alloc(2);
        len.writeUInt16BE(query.length);
        s.write(Buffer.concat([len, query]));
      });
      let got = Buffer.alloc(0);
      s.on('data', (d: Buffer) => {
        got = Buffer.concat([got, d]);
        if (got.length >= 2 && got.length >= 2 + got.readUInt16BE(0)) {
          s.end();
          resolve(got.subarray(2));
        }
      });
      s.on('error', reject);
    });
    const answer = dnsPacket.decode(reply);
    assert.equal(answer.id, 4242);
    assert.deepEqual(answer.answers?.map((a) => (a as { data: string }).data).sort(), ['10.1.0.1', '10.1.0.2']);
  });

  it('drops messages that are not DNS and goes on answering (property, real sockets)', async () => {
    const s = createSocket('udp4');
    await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
    try {
      await fc.assert(
        fc.asyncProperty(fc.uint8Array({ minLength: 0, maxLength: 64 }), async (bytes) => {
          await new Promise<void>((r) => s.send(Buffer.from(bytes), client.ports.dns, '127.0.0.1', () => r()));
        }),
        { numRuns: Number(process.env.FUZZ_RUNS ?? 300) },
      );
      // A flood fills the socket's receive buffer and UDP drops what does not fit (as for any
      // resolver); once the proxy has read the flood, it answers again.
      const answer = await waitFor('an answer after the flood', () => resolver.resolve4('reviews'), 10_000, 100);
      assert.deepEqual(answer.sort(), ['10.1.0.1', '10.1.0.2']);
    } finally {
      s.close();
    }
  });
});
