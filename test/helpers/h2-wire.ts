// Test glue for core/h2's connection: its output written to a socket once per turn, the socket's
// bytes fed to it, and what it tells its handler recorded per stream.
import type { Socket } from 'node:net';
import { H2Connection, type H2ConnectionOptions, type H2Handler, type HeaderBlockRole } from '../../core/h2/connection.js';
import type { H2ProtocolError } from '../../core/h2/errors.js';
import type { HeaderField } from '../../core/h2/hpack.js';

export interface StreamRecord {
  blocks: { fields: HeaderField[]; role: HeaderBlockRole }[];
  body: Buffer[];
  ended: boolean;
  reset?: { code: number; byPeer: boolean };
}

export interface Wired {
  conn: H2Connection;
  streams: Map<number, StreamRecord>;
  failed: H2ProtocolError[];
  goaways: { code: number; lastStream: number }[];
}

/** `on`: extra reactions (answering a request, say), called after the record is kept. */
export function wire(socket: Socket, options: H2ConnectionOptions, on: Partial<H2Handler> = {}, autoConsume = true): Wired {
  const streams = new Map<number, StreamRecord>();
  const record = (id: number) => {
    let r = streams.get(id);
    if (!r) streams.set(id, (r = { blocks: [], body: [], ended: false }));
    return r;
  };
  const failed: H2ProtocolError[] = [];
  const goaways: { code: number; lastStream: number }[] = [];
  let scheduled = false;
  const flush = () => {
    scheduled = false;
    const bytes = conn.takeOutput();
    if (bytes && !socket.destroyed) socket.write(bytes);
  };
  const conn: H2Connection = new H2Connection(options, {
    headers(id, fields, end, role) {
      const r = record(id);
      r.blocks.push({ fields, role });
      if (end) r.ended = true;
      on.headers?.(id, fields, end, role);
    },
    data(id, chunk, end) {
      const r = record(id);
      r.body.push(Buffer.from(chunk));
      if (end) r.ended = true;
      if (autoConsume) conn.consumed(id, chunk.length);
      on.data?.(id, chunk, end);
    },
    reset(id, code, byPeer) {
      record(id).reset = { code, byPeer };
      on.reset?.(id, code, byPeer);
    },
    goaway(code, lastStream) {
      goaways.push({ code, lastStream });
      on.goaway?.(code, lastStream);
    },
    output() {
      if (scheduled) return;
      scheduled = true;
      process.nextTick(flush);
    },
    writable(id) {
      on.writable?.(id);
    },
    failed(err) {
      failed.push(err);
      process.nextTick(() => {
        flush();
        socket.end();
      });
      on.failed?.(err);
    },
  });
  socket.on('data', (chunk: Buffer) => conn.receive(chunk));
  socket.on('error', () => undefined);
  return { conn, streams, failed, goaways };
}

export const field = (name: string, value: string): HeaderField => ({ name, value });
export const valueOf = (fields: HeaderField[] | undefined, name: string): string | undefined => fields?.find((f) => f.name === name)?.value;
