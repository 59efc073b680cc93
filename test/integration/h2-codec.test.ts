// The HTTP/2 codec (core/h2) against Node's own HTTP/2 (nghttp2) over a real socket: requests
// whose header blocks our encoder wrote, several on one connection so that its dynamic table is
// used, reach Node's server with every header as sent; the answers' headers and trailers, which
// nghttp2 encoded, come out of our frame reader and decoder as the server sent them.
import assert from 'node:assert/strict';
import { createServer, type Http2Server } from 'node:http2';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { CLIENT_PREFACE, FLAG, FRAME, FrameReader, frameBytes, headerFrames, settingsPayload, type Frame } from '../../core/h2/frames.js';
import { HpackDecoder, HpackEncoder, type HeaderField } from '../../core/h2/hpack.js';

describe('HTTP/2 codec against Node http2', () => {
  let server: Http2Server;
  let port: number;
  const seen: Record<string, string | string[] | undefined>[] = [];

  before(async () => {
    server = createServer();
    server.on('stream', (stream, headers) => {
      seen.push({ ...headers });
      stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'x-echo': String(headers['x-call']) }, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0', 'grpc-message': `call ${String(headers['x-call'])} done` }));
      stream.end(Buffer.from('hello'));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });

  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('carries headers both ways, table entries reused across streams', async () => {
    const socket: Socket = connect(port, '127.0.0.1');
    await new Promise<void>((resolve) => socket.once('connect', resolve));
    const reader = new FrameReader(false);
    const decoder = new HpackDecoder();
    const encoder = new HpackEncoder();
    const frames: Frame[] = [];
    socket.on('data', (chunk: Buffer) => {
      for (const f of reader.push(chunk)) {
        if (f.type === FRAME.SETTINGS && !(f.flags & FLAG.ACK)) socket.write(frameBytes(FRAME.SETTINGS, FLAG.ACK, 0));
        frames.push(f);
      }
    });
    socket.write(Buffer.concat([CLIENT_PREFACE, frameBytes(FRAME.SETTINGS, 0, 0, settingsPayload({ ENABLE_PUSH: 0 }))]));
    const request = (call: number): HeaderField[] => [
      { name: ':method', value: 'POST' },
      { name: ':scheme', value: 'http' },
      { name: ':path', value: '/helloworld.Greeter/SayHello' },
      { name: ':authority', value: `127.0.0.1:${port}` },
      { name: 'content-type', value: 'application/grpc' },
      { name: 'te', value: 'trailers' },
      { name: 'x-call', value: String(call) },
      { name: 'authorization', value: 'Bearer secret' },
    ];
    const blocks = [0, 1, 2].map((i) => encoder.encode(request(i)));
    // Later blocks refer to the table the first one filled: far shorter.
    assert.ok(blocks[1].length < blocks[0].length / 2, `second block ${blocks[1].length} bytes, first ${blocks[0].length}`);
    [1, 3, 5].forEach((id, i) => socket.write(Buffer.concat(headerFrames(id, blocks[i], true, 16_384))));

    const ended = () => frames.filter((f) => f.type === FRAME.HEADERS && f.flags & FLAG.END_STREAM).length;
    for (let i = 0; i < 200 && ended() < 3; i++) await new Promise((r) => setTimeout(r, 10));
    socket.destroy();

    assert.equal(seen.length, 3);
    seen.forEach((h, i) => {
      for (const f of request(i)) assert.equal(h[f.name], f.value, `${f.name} of call ${i}`);
    });
    // Every header block in the order sent (one table): per stream, the answer's head, then its trailers.
    const byStream = new Map<number, HeaderField[][]>();
    for (const f of frames) {
      if (f.type !== FRAME.HEADERS) continue;
      assert.ok(f.flags & FLAG.END_HEADERS, 'small blocks come whole');
      const list = byStream.get(f.stream) ?? [];
      list.push(decoder.decode(f.payload));
      byStream.set(f.stream, list);
    }
    [1, 3, 5].forEach((id, i) => {
      const [head, trailers] = byStream.get(id) ?? [];
      const get = (list: HeaderField[] | undefined, name: string) => list?.find((f) => f.name === name)?.value;
      assert.equal(get(head, ':status'), '200');
      assert.equal(get(head, 'x-echo'), String(i));
      assert.equal(get(trailers, 'grpc-status'), '0');
      assert.equal(get(trailers, 'grpc-message'), `call ${i} done`);
    });
    const data = frames.filter((f) => f.type === FRAME.DATA && f.payload.length > 0);
    assert.deepEqual(
      data.map((f) => f.payload.toString()),
      ['hello', 'hello', 'hello'],
    );
  });
});
