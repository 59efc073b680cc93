// A peer that floods the sidecar's HTTP/2 link with frames that each demand an answer (PINGs)
// and never reads the answers: the link stops reading once HIGH_WATER bytes wait in its socket,
// so the flood waits in the peer's buffers instead of the sidecar's memory; once the peer reads,
// the link reads again. Real sockets on loopback, the flood bounded in size.
import assert from 'node:assert/strict';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { CLIENT_PREFACE, FRAME, frameBytes, settingsPayload } from '../../core/h2/frames.js';
import { FrameLink, HIGH_WATER } from '../../proxy/h2/frame-link.js';
import { waitFor } from '../helpers/ports.js';

describe('FrameLink under a PING flood from a peer that does not read', () => {
  let server: Server;
  let port: number;
  const links: FrameLink[] = [];

  before(async () => {
    const nothing = () => undefined;
    server = createServer((socket: Socket) =>
      links.push(new FrameLink(socket, { role: 'server' }, { headers: nothing, data: nothing, reset: nothing, goaway: nothing, writable: nothing, gone: nothing })),
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });

  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('stops reading past its high-water mark, and reads again once the peer does', async () => {
    const client = connect(port, '127.0.0.1');
    await new Promise<void>((resolve) => client.once('connect', resolve));
    client.pause(); // never reads the acknowledgements
    client.write(Buffer.concat([CLIENT_PREFACE, frameBytes(FRAME.SETTINGS, 0, 0, settingsPayload({}))]));
    const batch = Buffer.concat(Array.from({ length: 1000 }, () => frameBytes(FRAME.PING, 0, 0, Buffer.alloc(8))));
    // Up to 64 MB of PINGs, until the sidecar's side stops taking them for half a second.
    let sent = 0;
    let blocked = false;
    while (sent < 64 * 1024 * 1024) {
      sent += batch.length;
      if (client.write(batch)) continue;
      const drained = await Promise.race([new Promise<boolean>((r) => client.once('drain', () => r(true))), new Promise<boolean>((r) => setTimeout(() => r(false), 500))]);
      if (!drained) {
        blocked = true;
        break;
      }
    }
    assert.ok(blocked, `the flood was taken whole (${sent} bytes): nothing pushed back`);
    const link = links[links.length - 1];
    assert.ok(link.socket.writableLength <= HIGH_WATER + batch.length, `${link.socket.writableLength} bytes waiting in the sidecar's socket`);
    assert.ok(link.socket.isPaused(), 'the link stopped reading');
    // The peer reads: the acknowledgements flow, and the link reads the rest of the flood.
    client.resume();
    client.on('data', () => undefined);
    await waitFor('the link to read again', () => !link.socket.isPaused(), 10_000, 20);
    client.destroy();
  });
});
