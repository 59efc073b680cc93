// Properties of core/h2's connection, two of them joined back to back in memory: whatever the
// windows, the bodies' sizes and how the bytes are cut on the way, every call's request and
// answer arrive whole and in order; and any bytes a client sends make a server connection answer,
// reset streams or fail with a protocol error, never throw.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { H2Connection, type H2Handler } from '../../core/h2/connection.js';
import { CLIENT_PREFACE } from '../../core/h2/frames.js';
import type { HeaderField } from '../../core/h2/hpack.js';
import { fuzzParameters } from './fuzz-options.js';

const f = (name: string, value: string): HeaderField => ({ name, value });

function handler(on: Partial<H2Handler>): H2Handler {
  const nothing = () => undefined;
  return { headers: nothing, data: nothing, reset: nothing, goaway: nothing, output: nothing, writable: nothing, failed: nothing, ...on };
}

describe('H2Connection, client and server joined', () => {
  it('delivers every call whole, whatever the windows, sizes and cuts', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ up: fc.integer({ min: 0, max: 200_000 }), down: fc.integer({ min: 0, max: 200_000 }) }), { minLength: 1, maxLength: 6 }),
        // Windows from 512 bytes: with fewer, a 200 KB body needs more round trips than the loop below allows.
        fc.integer({ min: 512, max: 300_000 }),
        fc.integer({ min: 65_535, max: 400_000 }),
        fc.array(fc.integer({ min: 1, max: 70_000 }), { minLength: 1, maxLength: 10 }),
        (calls, streamWindow, connectionWindow, cuts) => {
          const got = new Map<number, Buffer[]>();
          const answers = new Map<number, { head?: HeaderField[]; body: Buffer[]; trailers?: HeaderField[] }>();
          const server: H2Connection = new H2Connection(
            { role: 'server', initialWindowSize: streamWindow, connectionWindowSize: Math.max(connectionWindow, 65_535) },
            handler({
              data(id, chunk, end) {
                got.set(id, [...(got.get(id) ?? []), Buffer.from(chunk)]);
                server.consumed(id, chunk.length);
                if (end) reply(id);
              },
              headers(id, _fields, end) {
                if (end) reply(id);
              },
            }),
          );
          const reply = (id: number) => {
            const size = Number(requests.get(id)?.down ?? 0);
            server.sendHeaders(id, [f(':status', '200')], false);
            server.sendData(id, Buffer.alloc(size, id & 0xff), false);
            server.sendHeaders(id, [f('grpc-status', '0')], true);
          };
          const client: H2Connection = new H2Connection(
            { role: 'client', initialWindowSize: streamWindow },
            handler({
              headers(id, fields, _end, role) {
                const a = answers.get(id) ?? { body: [] };
                if (role === 'trailers') a.trailers = fields;
                else a.head = fields;
                answers.set(id, a);
              },
              data(id, chunk) {
                answers.get(id)!.body.push(Buffer.from(chunk));
                client.consumed(id, chunk.length);
              },
            }),
          );
          const requests = new Map<number, { up: number; down: number; body: Buffer }>();
          for (const c of calls) {
            const body = Buffer.alloc(c.up, c.up & 0xff);
            const id = client.request([f(':method', 'POST'), f(':scheme', 'http'), f(':path', '/m'), f(':authority', 'a')], c.up === 0);
            if (c.up > 0) client.sendData(id, body, true);
            requests.set(id, { ...c, body });
          }
          // Shuttle bytes both ways, cut as the test says, until neither side has anything to say.
          let turn = 0;
          for (let rounds = 0; rounds < 10_000; rounds++) {
            const toServer = client.takeOutput();
            const toClient = server.takeOutput();
            if (!toServer && !toClient) break;
            for (const [bytes, to] of [
              [toServer, server],
              [toClient, client],
            ] as const) {
              if (!bytes) continue;
              for (let off = 0; off < bytes.length;) {
                const n = cuts[turn++ % cuts.length];
                to.receive(bytes.subarray(off, off + n));
                off += n;
              }
            }
          }
          for (const [id, r] of requests) {
            assert.deepEqual(Buffer.concat(got.get(id) ?? []), r.body, `request body of stream ${id}`);
            const a = answers.get(id);
            assert.equal(a?.head?.[0]?.value, '200');
            assert.equal(Buffer.concat(a?.body ?? []).length, r.down, `answer body of stream ${id}`);
            assert.equal(a?.trailers?.[0]?.value, '0');
          }
          assert.equal(server.size, 0, 'no stream left open on the server');
          assert.equal(client.size, 0, 'no stream left open on the client');
        },
      ),
      fuzzParameters(150),
    );
  });
});

describe('H2Connection, a server fed any bytes', () => {
  it('answers, resets or fails with a protocol error, never throws', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 120 }), { minLength: 1, maxLength: 8 }), fc.boolean(), (chunks, preface) => {
        let failures = 0;
        const server = new H2Connection({ role: 'server' }, handler({ failed: () => failures++ }));
        if (preface) server.receive(CLIENT_PREFACE);
        for (const c of chunks) server.receive(Buffer.from(c));
        assert.ok(failures <= 1, 'fails at most once');
        server.takeOutput();
      }),
      fuzzParameters(2000),
    );
  });
});
