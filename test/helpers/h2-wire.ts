// Test glue for core/h2's connection on a socket (the sidecar's FrameLink): what it tells its
// handler, recorded per stream.
import type { Socket } from 'node:net';
import type { H2Connection, H2ConnectionOptions, H2Handler, HeaderBlockRole } from '../../core/h2/connection.js';
import { FrameLink } from '../../proxy/h2/frame-link.js';
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

/** `on`: extra reactions (answering a request, say), called after the record is kept. On the sidecar's FrameLink. */
export function wire(socket: Socket, options: H2ConnectionOptions, on: Partial<H2Handler> = {}, autoConsume = true): Wired {
  const streams = new Map<number, StreamRecord>();
  const record = (id: number) => {
    let r = streams.get(id);
    if (!r) streams.set(id, (r = { blocks: [], body: [], ended: false }));
    return r;
  };
  const failed: H2ProtocolError[] = [];
  const goaways: { code: number; lastStream: number }[] = [];
  const link: FrameLink = new FrameLink(socket, options, {
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
      if (autoConsume) link.conn.consumed(id, chunk.length);
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
    writable(id) {
      on.writable?.(id);
    },
    gone(err) {
      if (!err) return;
      failed.push(err);
      on.failed?.(err);
    },
  });
  return { conn: link.conn, streams, failed, goaways };
}

export const field = (name: string, value: string): HeaderField => ({ name, value });
export const valueOf = (fields: HeaderField[] | undefined, name: string): string | undefined => fields?.find((f) => f.name === name)?.value;
