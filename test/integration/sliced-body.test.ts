// A large controller response leaves in slices: the TLS socket is never handed more than one
// slice at a time (Node's TLS layer keeps a buffer the size of the largest write it was handed
// for as long as the connection lives), and the client receives the body whole. Real TLS on a
// real socket; the server's socket writes are counted where the stream hands them to TLS.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, get, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { SLICE_BYTES, writeSliced } from '../../controller/api/sliced-body.js';
import { opensslCa, type OpensslCa } from '../helpers/openssl-ca.js';

describe('sliced response bodies over TLS', () => {
  let ca: OpensslCa;
  let server: Server;
  const handed: number[] = [];
  const body = Buffer.from(Array.from({ length: 60_000 }, (_, i) => i % 251));

  before(async () => {
    ca = opensslCa();
    ca.issue('controller', { dns: ['localhost'] });
    server = createServer({ key: ca.read('controller.key'), cert: ca.read('controller.pem') }, (_req, res) => {
      const socket = res.socket as TLSSocket & { _write: (...a: unknown[]) => void; _writev: (...a: unknown[]) => void };
      const write = socket._write.bind(socket);
      const writev = socket._writev.bind(socket);
      socket._write = (chunk: unknown, ...rest: unknown[]) => (handed.push(Buffer.byteLength(chunk as Buffer)), write(chunk, ...rest));
      socket._writev = (chunks: unknown, ...rest: unknown[]) => (handed.push((chunks as { chunk: Buffer }[]).reduce((n, c) => n + Buffer.byteLength(c.chunk), 0)), writev(chunks, ...rest));
      res.setHeader('content-length', body.length);
      writeSliced(res, [body.subarray(0, 700), body.subarray(700, 50_000), body.subarray(50_000)]);
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
  });

  after(() => {
    server.close();
    ca.remove();
  });

  it('hands TLS one slice at a time and delivers every byte', async () => {
    const { port } = server.address() as AddressInfo;
    const req = get({ host: '127.0.0.1', port, path: '/', ca: ca.read('ca.pem'), servername: 'localhost' });
    const [res] = (await once(req, 'response')) as [NodeJS.ReadableStream];
    const chunks: Buffer[] = [];
    for await (const c of res) chunks.push(c as Buffer);
    assert.deepEqual(Buffer.concat(chunks), body);
    const head = 200;
    assert.ok(handed.length >= Math.ceil(body.length / SLICE_BYTES), `${handed.length} writes`);
    assert.ok(Math.max(...handed) <= SLICE_BYTES + head, `largest write handed to TLS: ${Math.max(...handed)} bytes (${handed.join(', ')})`);
    assert.ok(Math.max(...handed) < 16 * 1024, 'under one TLS record');
  });
});
