// The sidecar's DNS proxy (Istio's DNS proxying): the application's DNS queries are redirected
// here by the capture rules (UDP and TCP port 53). A query for a mesh name (core/dns/mesh-names.ts)
// is answered from the snapshot; anything else goes, as it came, to the host's resolver and its
// answer comes back unchanged. The sidecar's own queries are not captured, so forwarding cannot
// loop. dns-packet (a small, widely used codec) reads and writes the wire format; a message it
// cannot read is dropped (UDP) or ends the connection (TCP), never the sidecar.
// start / drain / close.
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { connect, createServer, type Server, type Socket } from 'node:net';
import dnsPacket from 'dns-packet';
import { normaliseName, type DnsAnswer } from '../core/dns/mesh-names.js';

/** How long a mesh answer may be cached: short, as endpoints come and go. */
const TTL_SECONDS = 15;
const UPSTREAM_TIMEOUT_MS = 3000;
/** Largest UDP answer we relay or make (EDNS0 sizes aside, clients retry over TCP when truncated). */
const MAX_UDP = 4096;

export interface DnsProxyOptions {
  host: string;
  port: number;
  /** The mesh names of the current snapshot; undefined before the first one (everything is forwarded). */
  table(): ReadonlyMap<string, DnsAnswer> | undefined;
  /** The host's resolver, e.g. from /etc/resolv.conf. */
  upstream: { host: string; port: number };
  log?(line: Record<string, unknown>, message: string): void;
}

export class DnsProxy {
  private udp: UdpSocket | undefined;
  private tcp: Server | undefined;
  private readonly connections = new Set<Socket>();
  port = 0;

  constructor(private readonly opts: DnsProxyOptions) {}

  async start(): Promise<number> {
    const udp = (this.udp = createSocket(this.opts.host.includes(':') ? 'udp6' : 'udp4'));
    udp.on('message', (msg, from) => {
      void this.answer(msg, 'udp').then((out) => {
        if (out && this.udp === udp) udp.send(out.length > MAX_UDP ? truncated(out) : out, from.port, from.address);
      });
    });
    udp.on('error', (err) => this.opts.log?.({ err: err.message }, 'DNS proxy UDP error'));
    await new Promise<void>((resolve, reject) => {
      udp.once('error', reject);
      udp.bind(this.opts.port, this.opts.host, () => {
        udp.off('error', reject);
        resolve();
      });
    });
    this.port = udp.address().port;
    const tcp = (this.tcp = createServer((socket) => this.serveTcp(socket)));
    await new Promise<void>((resolve, reject) => {
      tcp.once('error', reject);
      tcp.listen(this.port, this.opts.host, () => resolve());
    });
    return this.port;
  }

  /** Stops taking queries; queries in flight get their answers. */
  drain(): void {
    this.tcp?.close();
    for (const s of this.connections) s.end();
  }

  close(): void {
    this.drain();
    for (const s of this.connections) s.destroy();
    this.udp?.close();
    this.udp = undefined;
  }

  /** The answer to one query message, or undefined to drop it. Never throws: a message is hostile until read. */
  async answer(query: Buffer, transport: 'udp' | 'tcp'): Promise<Buffer | undefined> {
    let packet: dnsPacket.Packet;
    let known: DnsAnswer | undefined;
    let q: dnsPacket.Question | undefined;
    try {
      packet = dnsPacket.decode(query);
      q = packet.questions?.length === 1 ? packet.questions[0] : undefined;
      const asks = q && typeof q.name === 'string' && (q.class ?? 'IN') === 'IN' && (q.type === 'A' || q.type === 'AAAA') && packet.type === 'query';
      known = asks ? this.opts.table()?.get(normaliseName(q!.name)) : undefined;
      if (known && q) return meshAnswer(packet, q, known);
    } catch {
      return undefined; // not DNS we can read, or an answer we cannot write for it: dropped
    }
    if (packet.type !== 'query') return undefined; // nobody asked us for answers
    try {
      return await (transport === 'udp' ? forwardUdp : forwardTcp)(query, this.opts.upstream);
    } catch (err) {
      this.opts.log?.({ name: q?.name, err: (err as Error).message }, 'DNS forwarding failed');
      try {
        return serverFailure(packet);
      } catch {
        return undefined;
      }
    }
  }

  /** DNS over TCP: each message is preceded by its two-byte length (RFC 1035 4.2.2). */
  private serveTcp(socket: Socket): void {
    this.connections.add(socket);
    socket.setTimeout(10_000, () => socket.destroy());
    socket.on('close', () => this.connections.delete(socket));
    socket.on('error', () => socket.destroy());
    let pending = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      while (pending.length >= 2 && pending.length >= 2 + pending.readUInt16BE(0)) {
        const message = pending.subarray(2, 2 + pending.readUInt16BE(0));
        pending = pending.subarray(2 + message.length);
        void this.answer(Buffer.from(message), 'tcp').then((out) => {
          if (!out) return void socket.destroy();
          if (!socket.destroyed) socket.write(Buffer.concat([lengthPrefix(out.length), out]));
        });
      }
      if (pending.length > 2 + 65535) socket.destroy();
    });
  }
}

function meshAnswer(query: dnsPacket.Packet, q: dnsPacket.Question, known: DnsAnswer): Buffer {
  const addresses = q.type === 'A' ? known.a : known.aaaa;
  return dnsPacket.encode({
    type: 'response',
    id: query.id,
    flags: dnsPacket.AUTHORITATIVE_ANSWER | ((query.flags ?? 0) & dnsPacket.RECURSION_DESIRED) | dnsPacket.RECURSION_AVAILABLE,
    questions: [q],
    answers: addresses.map((data) => ({ type: q.type as 'A' | 'AAAA', name: q.name, class: 'IN' as const, ttl: TTL_SECONDS, data })),
  });
}

function serverFailure(query: dnsPacket.Packet): Buffer {
  return dnsPacket.encode({ type: 'response', id: query.id, flags: dnsPacket.RECURSION_AVAILABLE | 2 /* rcode SERVFAIL */, questions: query.questions ?? [] });
}

/** An answer too large for UDP: its header alone, with TC set, so that the client asks again over TCP. */
function truncated(answer: Buffer): Buffer {
  const head = Buffer.from(answer.subarray(0, 12));
  head.writeUInt16BE(head.readUInt16BE(2) | 0x0200, 2);
  head.writeUInt16BE(0, 4);
  head.writeUInt32BE(0, 6);
  head.writeUInt16BE(0, 10);
  return head;
}

function lengthPrefix(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
}

const forwardUdp: (query: Buffer, to: { host: string; port: number }) => Promise<Buffer> = (query, to) =>
  new Promise((resolve, reject) => {
    const s = createSocket(to.host.includes(':') ? 'udp6' : 'udp4');
    const timer = setTimeout(() => done(new Error(`no answer from ${to.host}:${to.port} within ${UPSTREAM_TIMEOUT_MS} ms`)), UPSTREAM_TIMEOUT_MS);
    const done = (err?: Error, msg?: Buffer) => {
      clearTimeout(timer);
      s.close();
      if (err) reject(err);
      else resolve(msg!);
    };
    s.on('error', (err) => done(err));
    // Only the answer to this query, from the resolver asked: the id and the sender must match.
    s.on('message', (msg, from) => {
      if (msg.length >= 2 && msg.readUInt16BE(0) === query.readUInt16BE(0) && from.port === to.port) done(undefined, msg);
    });
    s.send(query, to.port, to.host);
  });

const forwardTcp: (query: Buffer, to: { host: string; port: number }) => Promise<Buffer> = (query, to) =>
  new Promise((resolve, reject) => {
    const s = connect(to.port, to.host);
    let got = Buffer.alloc(0);
    s.setTimeout(UPSTREAM_TIMEOUT_MS, () => s.destroy(new Error(`no answer from ${to.host}:${to.port} within ${UPSTREAM_TIMEOUT_MS} ms`)));
    s.on('connect', () => s.write(Buffer.concat([lengthPrefix(query.length), query])));
    s.on('data', (chunk: Buffer) => {
      got = Buffer.concat([got, chunk]);
      if (got.length >= 2 && got.length >= 2 + got.readUInt16BE(0)) {
        resolve(got.subarray(2, 2 + got.readUInt16BE(0)));
        s.end();
      }
    });
    s.on('error', reject);
    s.on('close', () => reject(new Error(`${to.host}:${to.port} closed the connection without an answer`)));
  });

/** The first nameserver of a resolv.conf text, as libc's resolver would ask it. */
export function resolverFromResolvConf(text: string): { host: string; port: number } | undefined {
  for (const line of text.split('\n')) {
    const m = /^\s*nameserver\s+(\S+)/.exec(line);
    if (m) return { host: m[1].replace(/%.*$/, ''), port: 53 };
  }
  return undefined;
}
