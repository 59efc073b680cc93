// core/h2's connection at either end of a real socket, with Node's http2 (nghttp2) at the other:
// calls with bodies and trailers, bodies larger than every flow-control window both ways,
// cancels both ways; and, with raw frames, what a hostile client sends: malformed header blocks,
// DATA past the window, a rapid-reset flood, a CONTINUATION flood.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { connect as h2connect, constants, createServer as createH2Server, type ClientHttp2Session, type Http2Server } from 'node:http2';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { CLIENT_PREFACE, FRAME, FrameReader, frameBytes, headerFrames, settingsPayload, u32, type Frame } from '../../core/h2/frames.js';
import { HpackEncoder } from '../../core/h2/hpack.js';
import { field, valueOf, wire, type Wired } from '../helpers/h2-wire.js';
import { waitFor } from '../helpers/ports.js';

const BIG = 5 * 1024 * 1024;

describe('H2Connection as a server, Node http2 as the client', () => {
  let server: Server;
  let port: number;
  const wired: Wired[] = [];

  before(async () => {
    server = createServer((socket: Socket) => {
      const w: Wired = wire(
        socket,
        { role: 'server', initialWindowSize: 256 * 1024 },
        {
          // Answers at the end of the request: its body's length and a digest-free echo of the head.
          data(id, _chunk, end) {
            if (end) answer(w, id);
          },
          headers(id, fields, end, role) {
            if (end && role === 'request') answer(w, id);
            // Answered whole at once, past the client's window, while the client still sends.
            if (!end && valueOf(fields, ':path') === '/early') {
              w.conn.sendHeaders(id, [field(':status', '200')], false);
              w.conn.sendData(id, Buffer.alloc(BIG, 7), false);
              w.conn.sendHeaders(id, [field('grpc-status', '0')], true);
              w.conn.stopPeerAfterAnswer(id);
            }
          },
        },
      );
      wired.push(w);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });

  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  function answer(w: Wired, id: number): void {
    const r = w.streams.get(id)!;
    // Never answered: the client gives up first.
    if (valueOf(r.blocks[0].fields, ':path') === '/slow') return;
    const received = Buffer.concat(r.body);
    const size = Number(valueOf(r.blocks[0].fields, 'x-answer-bytes') ?? 0);
    w.conn.sendHeaders(id, [field(':status', '200'), field('x-received', String(received.length)), field('x-path', valueOf(r.blocks[0].fields, ':path') ?? '')], false);
    w.conn.sendData(id, size ? Buffer.alloc(size, 7) : received, false);
    w.conn.sendHeaders(id, [field('grpc-status', '0')], true);
  }

  const call = (session: ClientHttp2Session, path: string, body: Buffer, answerBytes = 0) =>
    new Promise<{ headers: Record<string, unknown>; body: Buffer; trailers: Record<string, unknown> }>((resolve, reject) => {
      const req = session.request({ ':method': 'POST', ':path': path, 'content-type': 'application/grpc', 'x-answer-bytes': String(answerBytes) });
      const chunks: Buffer[] = [];
      let headers: Record<string, unknown> = {};
      let trailers: Record<string, unknown> = {};
      req.on('response', (h) => (headers = h));
      req.on('trailers', (t) => (trailers = t));
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => resolve({ headers, body: Buffer.concat(chunks), trailers }));
      req.on('error', reject);
      req.end(body);
    });

  it('answers concurrent calls with their bodies and trailers', async () => {
    const session = h2connect(`http://127.0.0.1:${port}`);
    try {
      const bodies = Array.from({ length: 20 }, (_, i) => randomBytes(100 + i * 37));
      const answers = await Promise.all(bodies.map((b, i) => call(session, `/svc/m${i}`, b)));
      answers.forEach((a, i) => {
        assert.equal(a.headers[':status'], 200);
        assert.equal(a.headers['x-path'], `/svc/m${i}`);
        assert.deepEqual(a.body, bodies[i]);
        assert.equal(a.trailers['grpc-status'], '0');
      });
    } finally {
      session.close();
    }
  });

  it('moves bodies larger than every window, both ways', async () => {
    const session = h2connect(`http://127.0.0.1:${port}`);
    try {
      const up = randomBytes(BIG);
      const [a, b] = await Promise.all([call(session, '/up', up), call(session, '/down', Buffer.from('x'), BIG)]);
      assert.equal(a.headers['x-received'], String(BIG));
      assert.deepEqual(a.body, up, 'the upload came back whole');
      assert.equal(b.body.length, BIG);
      assert.ok(b.body.every((x) => x === 7));
    } finally {
      session.close();
    }
  });

  it('tells a client still sending to stop, without error, once an answer sent first has all gone', async () => {
    const session = h2connect(`http://127.0.0.1:${port}`);
    try {
      const req = session.request({ ':method': 'POST', ':path': '/early' });
      req.on('error', () => undefined);
      req.write('the first part of a request that never ends');
      let received = 0;
      let trailers: Record<string, unknown> = {};
      req.on('data', (c: Buffer) => (received += c.length));
      req.on('trailers', (t) => (trailers = t));
      let closed = false;
      req.once('close', () => (closed = true));
      await waitFor('the stream closed', () => closed, 10_000, 20);
      assert.equal(received, BIG, 'the whole answer came before the reset');
      assert.equal(trailers['grpc-status'], '0');
      assert.equal(req.rstCode, constants.NGHTTP2_NO_ERROR);
    } finally {
      session.close();
    }
  });

  it("tells the handler of the client's cancel", async () => {
    const session = h2connect(`http://127.0.0.1:${port}`);
    try {
      const req = session.request({ ':method': 'POST', ':path': '/slow' });
      req.write('part');
      req.on('error', () => undefined);
      await new Promise((r) => setTimeout(r, 100));
      req.close(constants.NGHTTP2_CANCEL);
      await waitFor('the reset', () => wired.some((w) => [...w.streams.values()].some((s) => s.reset?.byPeer && s.reset.code === constants.NGHTTP2_CANCEL)), 5000, 20);
    } finally {
      session.close();
    }
  });
});

/** A raw client: the preface, SETTINGS, and whatever frames a test writes; frames read back. */
async function rawClient(port: number): Promise<{ socket: Socket; frames: Frame[]; send: (...f: Buffer[]) => void; closed: Promise<void> }> {
  const socket = connect(port, '127.0.0.1');
  await new Promise<void>((resolve) => socket.once('connect', resolve));
  const frames: Frame[] = [];
  const reader = new FrameReader(false);
  socket.on('data', (c: Buffer) => frames.push(...reader.push(c)));
  socket.on('error', () => undefined);
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  socket.write(Buffer.concat([CLIENT_PREFACE, frameBytes(FRAME.SETTINGS, 0, 0, settingsPayload({}))]));
  return { socket, frames, send: (...f) => socket.write(Buffer.concat(f)), closed };
}

describe('H2Connection as a server, against hostile frames', () => {
  let server: Server;
  let port: number;
  const wired: Wired[] = [];

  before(async () => {
    // Nothing read: a stream's window is not given back.
    server = createServer((socket: Socket) => wired.push(wire(socket, { role: 'server', maxHeaderBlockBytes: 8192 }, {}, false)));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });

  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const request = (path = '/'): ReturnType<typeof field>[] => [field(':method', 'GET'), field(':scheme', 'http'), field(':path', path), field(':authority', 'x')];
  const resets = (frames: Frame[]) => frames.filter((f) => f.type === FRAME.RST_STREAM).map((f) => [f.stream, f.payload.readUInt32BE(0)]);
  const goaway = (frames: Frame[]) => frames.find((f) => f.type === FRAME.GOAWAY);

  it('resets a stream whose head is malformed and keeps the connection', async () => {
    const c = await rawClient(port);
    const enc = new HpackEncoder();
    c.send(...headerFrames(1, enc.encode([...request(), field('Upper', 'x')]), true, 16_384));
    c.send(...headerFrames(3, enc.encode([...request(), field('connection', 'close')]), true, 16_384));
    c.send(...headerFrames(5, enc.encode([field(':method', 'GET'), field(':path', '/')]), true, 16_384));
    c.send(...headerFrames(7, enc.encode(request('/fine')), true, 16_384));
    await waitFor('three resets', () => resets(c.frames).length === 3, 5000, 20);
    assert.deepEqual(resets(c.frames), [
      [1, constants.NGHTTP2_PROTOCOL_ERROR],
      [3, constants.NGHTTP2_PROTOCOL_ERROR],
      [5, constants.NGHTTP2_PROTOCOL_ERROR],
    ]);
    await waitFor('the well-formed request', () => wired.some((w) => valueOf(w.streams.get(7)?.blocks[0]?.fields, ':path') === '/fine'), 5000, 20);
    assert.equal(goaway(c.frames), undefined);
    c.socket.destroy();
  });

  it('resets a stream sent DATA past its window, with FLOW_CONTROL_ERROR', async () => {
    const c = await rawClient(port);
    const enc = new HpackEncoder();
    c.send(...headerFrames(1, enc.encode([field(':method', 'POST'), field(':scheme', 'http'), field(':path', '/'), field(':authority', 'x')]), false, 16_384));
    // 16 MiB of connection window and 1 MiB per stream: 70 frames of 16 KiB overrun the stream's.
    const chunk = frameBytes(FRAME.DATA, 0, 1, Buffer.alloc(16_384));
    for (let i = 0; i < 70; i++) c.send(chunk);
    await waitFor('a reset of the stream', () => resets(c.frames).length === 1, 5000, 20);
    assert.deepEqual(resets(c.frames), [[1, constants.NGHTTP2_FLOW_CONTROL_ERROR]]);
    c.socket.destroy();
  });

  it('ends a rapid-reset flood with GOAWAY ENHANCE_YOUR_CALM', async () => {
    const c = await rawClient(port);
    const enc = new HpackEncoder();
    for (let id = 1; id < 2 * 150; id += 2) c.send(...headerFrames(id, enc.encode(request()), false, 16_384), frameBytes(FRAME.RST_STREAM, 0, id, u32(constants.NGHTTP2_CANCEL)));
    await c.closed;
    assert.equal(goaway(c.frames)?.payload.readUInt32BE(4), constants.NGHTTP2_ENHANCE_YOUR_CALM);
  });

  it('ends a flood of empty DATA frames with GOAWAY ENHANCE_YOUR_CALM', async () => {
    const c = await rawClient(port);
    const enc = new HpackEncoder();
    c.send(...headerFrames(1, enc.encode([field(':method', 'POST'), field(':scheme', 'http'), field(':path', '/'), field(':authority', 'x')]), false, 16_384));
    const empty = frameBytes(FRAME.DATA, 0, 1);
    for (let i = 0; i < 200; i++) c.send(empty);
    await c.closed;
    assert.equal(goaway(c.frames)?.payload.readUInt32BE(4), constants.NGHTTP2_ENHANCE_YOUR_CALM);
  });

  it('ends a CONTINUATION flood at the header block limit', async () => {
    const c = await rawClient(port);
    c.send(frameBytes(FRAME.HEADERS, 0, 1, Buffer.from([0x82])));
    for (let i = 0; i < 20; i++) c.send(frameBytes(FRAME.CONTINUATION, 0, 1, Buffer.alloc(1000, 0x82)));
    await c.closed;
    assert.equal(goaway(c.frames)?.payload.readUInt32BE(4), constants.NGHTTP2_ENHANCE_YOUR_CALM);
  });

  it('ends the connection on a request whose stream id is below one the client opened already', async () => {
    const c = await rawClient(port);
    const enc = new HpackEncoder();
    c.send(...headerFrames(5, enc.encode(request('/five')), true, 16_384));
    c.send(...headerFrames(3, enc.encode(request('/three')), true, 16_384));
    await c.closed;
    assert.equal(goaway(c.frames)?.payload.readUInt32BE(4), constants.NGHTTP2_PROTOCOL_ERROR);
    assert.ok(!wired.some((w) => valueOf(w.streams.get(3)?.blocks[0]?.fields, ':path') === '/three'), 'the request on stream 3 was never handled');
  });

  it('ends the connection on a frame between HEADERS and its CONTINUATION', async () => {
    const c = await rawClient(port);
    c.send(frameBytes(FRAME.HEADERS, 0, 1, Buffer.from([0x82])), frameBytes(FRAME.PING, 0, 0, Buffer.alloc(8)));
    await c.closed;
    assert.equal(goaway(c.frames)?.payload.readUInt32BE(4), constants.NGHTTP2_PROTOCOL_ERROR);
  });
});

describe('H2Connection as a client, Node http2 as the server', () => {
  let server: Http2Server;
  let port: number;

  before(async () => {
    server = createH2Server();
    server.on('stream', (stream, headers) => {
      stream.on('error', () => undefined);
      if (headers[':path'] === '/refuse') return void stream.close(constants.NGHTTP2_REFUSED_STREAM);
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        stream.respond({ ':status': 200, 'x-received': String(Buffer.concat(chunks).length) }, { waitForTrailers: true });
        stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
        stream.end(headers[':path'] === '/big' ? Buffer.alloc(BIG, 9) : Buffer.concat(chunks));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });

  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('sends requests with bodies past the window and reads answers past its own', async () => {
    const socket = connect(port, '127.0.0.1');
    await new Promise<void>((resolve) => socket.once('connect', resolve));
    const w = wire(socket, { role: 'client', initialWindowSize: 128 * 1024 });
    const head = (path: string) => [field(':method', 'POST'), field(':scheme', 'http'), field(':path', path), field(':authority', `127.0.0.1:${port}`)];
    const up = randomBytes(BIG);
    const a = w.conn.request(head('/echo'), false);
    w.conn.sendData(a, up, true);
    const b = w.conn.request(head('/big'), true);
    const c = w.conn.request(head('/refuse'), true);
    await waitFor('both answers whole', () => Boolean(w.streams.get(a)?.ended && w.streams.get(b)?.ended), 20_000, 20);
    const ra = w.streams.get(a)!;
    assert.equal(valueOf(ra.blocks[0].fields, 'x-received'), String(BIG));
    assert.deepEqual(Buffer.concat(ra.body), up);
    assert.equal(ra.blocks[1].role, 'trailers');
    assert.equal(valueOf(ra.blocks[1].fields, 'grpc-status'), '0');
    assert.equal(Buffer.concat(w.streams.get(b)!.body).length, BIG);
    await waitFor('the refusal', () => w.streams.get(c)?.reset !== undefined, 5000, 20);
    assert.deepEqual(w.streams.get(c)!.reset, { code: constants.NGHTTP2_REFUSED_STREAM, byPeer: true });
    assert.deepEqual(w.failed, []);
    socket.destroy();
  });
});
