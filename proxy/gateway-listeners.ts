// A gateway's listeners follow its snapshot: one per port of the Gateway servers that select it,
// opened when a port appears, drained when it goes or changes protocol, left alone otherwise
// (connections on a port that stays are never cut by a snapshot). HTTP, HTTP2 and GRPC servers
// share one listener kind (the outbound listener, which tells HTTP/1.1 from h2c by the first
// bytes); TCP servers pipe bytes to the route's cluster.
import { createServer, type Server, type Socket } from 'node:net';
import type { GatewayListener } from '../core/snapshot/types.js';
import { handleOutboundTcp, type TcpDeps } from './tcp.js';
import { readClientHello, type ClientHelloRead } from '../core/tls/client-hello.js';

/** What the gateway needs of a listener. */
export interface PortListener {
  listen(port: number, host: string): Promise<number>;
  /** Open connections (drain waits for them). */
  connections(): Promise<number>;
  drain(): void;
  close(): void;
  /** Takes a new snapshot's settings for its port (an HTTPS listener's certificates); throws if it cannot serve them. */
  update?(l: GatewayListener): Promise<void>;
}

type ListenerKind = 'http' | 'https' | 'httpsMutual' | 'tcp' | 'tls';

/**
 * The listener kind a port's servers need; undefined where this gateway does not serve them. An
 * HTTPS port asks clients for certificates only when one of its servers checks them, so that a
 * browser is never asked on a SIMPLE one; a change between the two opens a new listener.
 */
export function listenerKind(l: Pick<GatewayListener, 'protocol' | 'tls'>): ListenerKind | undefined {
  const protocol = l.protocol;
  if (protocol === 'HTTP' || protocol === 'HTTP2' || protocol === 'GRPC') return 'http';
  if (protocol === 'TCP') return 'tcp';
  if (protocol === 'HTTPS') return (l.tls ?? []).some((t) => t.mode !== 'SIMPLE') ? 'httpsMutual' : 'https';
  if (protocol === 'TLS') return 'tls';
  return undefined;
}

export interface GatewayListenersOptions {
  bindHost: string;
  http(port: number): PortListener;
  https(port: number): PortListener;
  /** HTTPS where some server checks client certificates (MUTUAL, ISTIO_MUTUAL). */
  httpsMutual(port: number): PortListener;
  tcp(port: number): PortListener;
  /** TLS passthrough: routed by the ClientHello's server name, never decrypted. */
  tls(port: number): PortListener;
  log(line: Record<string, unknown>, message: string): void;
}

export class GatewayListeners {
  private readonly open = new Map<number, { kind: ListenerKind; listener: PortListener }>();
  private readonly closing = new Set<PortListener>();
  private queue: Promise<void> = Promise.resolve();
  /** Set by drain and close: a snapshot still queued opens nothing any more. */
  private stopped = false;

  constructor(private readonly o: GatewayListenersOptions) {}

  /** Applies a snapshot's listeners; calls are applied one after another, in order. */
  update(listeners: GatewayListener[]): Promise<void> {
    this.queue = this.queue.then(() => this.apply(listeners));
    return this.queue;
  }

  /** Bound ports, by Gateway server port. */
  ports(): number[] {
    return [...this.open.keys()].sort((a, b) => a - b);
  }

  async connections(): Promise<number> {
    const all = [...[...this.open.values()].map((x) => x.listener), ...this.closing];
    return (await Promise.all(all.map((l) => l.connections()))).reduce((a, b) => a + b, 0);
  }

  drain(): void {
    this.stopped = true;
    for (const { listener } of this.open.values()) listener.drain();
  }

  close(): void {
    this.stopped = true;
    for (const { listener } of this.open.values()) listener.close();
    for (const l of this.closing) l.close();
    this.open.clear();
    this.closing.clear();
  }

  private async apply(listeners: GatewayListener[]): Promise<void> {
    if (this.stopped) return;
    const wanted = new Map(listeners.map((l) => [l.port, l]));
    for (const [port, { kind, listener }] of this.open) {
      const next = wanted.get(port);
      if (next && listenerKind(next) === kind) {
        // Same kind: new certificates (or none usable) take effect for new connections.
        await listener.update?.(next).catch((err: unknown) => this.o.log({ port, err: (err as Error).message }, 'gateway listener keeps its previous settings'));
        continue;
      }
      // Requests in flight finish; the listener goes once its connections have.
      listener.drain();
      this.open.delete(port);
      this.closing.add(listener);
      void this.forget(listener);
      this.o.log({ port }, 'gateway listener closed: no Gateway server on this port any more, or it now needs another kind of listener');
    }
    for (const [port, l] of wanted) {
      if (this.open.has(port)) continue;
      const kind = listenerKind(l);
      if (!kind) {
        this.o.log({ port, protocol: l.protocol, gateways: l.gateways }, 'gateway server not served: this gateway does not carry this protocol yet');
        continue;
      }
      const listener = this.o[kind](port);
      try {
        await listener.update?.(l);
        if (this.stopped) return listener.close();
        await listener.listen(port, this.o.bindHost);
        // Closed while it was opening: it goes too.
        if (this.stopped) return listener.close();
        this.open.set(port, { kind, listener });
        this.o.log({ port, protocol: l.protocol, gateways: l.gateways }, 'gateway listener open');
      } catch (err) {
        listener.close();
        this.o.log({ port, protocol: l.protocol, gateways: l.gateways, err: (err as Error).message }, 'gateway listener could not open; retried with the next snapshot');
      }
    }
  }

  private async forget(listener: PortListener): Promise<void> {
    while (this.closing.has(listener) && (await listener.connections()) > 0) await new Promise((r) => setTimeout(r, 200));
    this.closing.delete(listener);
  }
}

/**
 * A TCP server of a gateway: each connection goes by the tcp routes bound to its port. With
 * `passthrough` (a TLS server, mode PASSTHROUGH), by the tls routes matching the server name its
 * ClientHello asks for, which is read and handed on untouched: TLS ends at the destination.
 */
export class TcpGatewayListener implements PortListener {
  private readonly server: Server;

  constructor(deps: TcpDeps, port: number, passthrough?: { helloTimeoutMs: number; log(line: Record<string, unknown>, message: string): void }) {
    this.server = createServer((socket: Socket) => {
      socket.setNoDelay(true);
      socket.on('error', () => socket.destroy());
      if (!passthrough) return handleOutboundTcp(deps, socket, `gateway port ${port}`, (cfg) => cfg.gatewayTcp(port));
      readClientHelloFrom(socket, passthrough.helloTimeoutMs, (hello) => {
        if (hello.kind !== 'hello') {
          passthrough.log({ port, peer: socket.remoteAddress, reason: hello.kind === 'invalid' ? hello.reason : 'no ClientHello in time' }, 'gateway passthrough connection refused');
          return void socket.destroy();
        }
        handleOutboundTcp(deps, socket, `gateway port ${port} (${hello.serverName ?? 'no SNI'})`, (cfg) => cfg.gatewayHost(port, hello.serverName ?? ''), hello.serverName);
      });
    });
  }

  listen(port: number, host: string): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => resolve((this.server.address() as { port: number }).port));
    });
  }

  connections(): Promise<number> {
    return new Promise((resolve) => this.server.getConnections((_err, n) => resolve(n ?? 0)));
  }

  drain(): void {
    this.server.close();
  }

  close(): void {
    this.server.close();
  }
}

/**
 * Reads until the socket's ClientHello is whole (or is no ClientHello, or time runs out), then
 * puts every byte back for whoever takes the connection next.
 */
function readClientHelloFrom(socket: Socket, timeoutMs: number, then: (r: ClientHelloRead | { kind: 'timeout' }) => void): void {
  let got = Buffer.alloc(0);
  const done = (r: ClientHelloRead | { kind: 'timeout' }) => {
    clearTimeout(timer);
    socket.off('data', onData);
    // Left paused: whoever takes the connection resumes it once its upstream is there.
    socket.pause();
    if (got.length > 0) socket.unshift(got);
    then(r);
  };
  const onData = (d: Buffer) => {
    got = Buffer.concat([got, d]);
    const r = readClientHello(got);
    if (r.kind !== 'incomplete') done(r);
  };
  const timer = setTimeout(() => done({ kind: 'timeout' }), timeoutMs);
  socket.on('data', onData);
}
