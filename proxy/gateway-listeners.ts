// A gateway's listeners follow its snapshot: one per port of the Gateway servers that select it,
// opened when a port appears, drained when it goes or changes protocol, left alone otherwise
// (connections on a port that stays are never cut by a snapshot). HTTP, HTTP2 and GRPC servers
// share one listener kind (the outbound listener, which tells HTTP/1.1 from h2c by the first
// bytes); TCP servers pipe bytes to the route's cluster.
import { createServer, type Server, type Socket } from 'node:net';
import type { GatewayListener } from '../core/snapshot/types.js';
import { handleOutboundTcp, type TcpDeps } from './tcp.js';

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

type ListenerKind = 'http' | 'https' | 'tcp';

/** The listener kind a server protocol needs; undefined where this gateway does not serve it yet. */
export function listenerKind(protocol: GatewayListener['protocol']): ListenerKind | undefined {
  if (protocol === 'HTTP' || protocol === 'HTTP2' || protocol === 'GRPC') return 'http';
  if (protocol === 'TCP') return 'tcp';
  if (protocol === 'HTTPS') return 'https';
  return undefined;
}

export interface GatewayListenersOptions {
  bindHost: string;
  http(port: number): PortListener;
  https(port: number): PortListener;
  tcp(port: number): PortListener;
  log(line: Record<string, unknown>, message: string): void;
}

export class GatewayListeners {
  private readonly open = new Map<number, { kind: ListenerKind; listener: PortListener }>();
  private readonly closing = new Set<PortListener>();
  private queue: Promise<void> = Promise.resolve();

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
    for (const { listener } of this.open.values()) listener.drain();
  }

  close(): void {
    for (const { listener } of this.open.values()) listener.close();
    for (const l of this.closing) l.close();
    this.open.clear();
    this.closing.clear();
  }

  private async apply(listeners: GatewayListener[]): Promise<void> {
    const wanted = new Map(listeners.map((l) => [l.port, l]));
    for (const [port, { kind, listener }] of this.open) {
      const next = wanted.get(port);
      if (next && listenerKind(next.protocol) === kind) {
        // Same kind: new certificates (or none usable) take effect for new connections.
        await listener.update?.(next).catch((err: unknown) => this.o.log({ port, err: (err as Error).message }, 'gateway listener keeps its previous settings'));
        continue;
      }
      // Requests in flight finish; the listener goes once its connections have.
      listener.drain();
      this.open.delete(port);
      this.closing.add(listener);
      void this.forget(listener);
      this.o.log({ port }, 'gateway listener closed: no Gateway server on this port any more');
    }
    for (const [port, l] of wanted) {
      if (this.open.has(port)) continue;
      const kind = listenerKind(l.protocol);
      if (!kind) {
        this.o.log({ port, protocol: l.protocol, gateways: l.gateways }, 'gateway server not served: this gateway does not carry this protocol yet');
        continue;
      }
      const listener = kind === 'tcp' ? this.o.tcp(port) : kind === 'https' ? this.o.https(port) : this.o.http(port);
      try {
        await listener.update?.(l);
        await listener.listen(port, this.o.bindHost);
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

/** A TCP server of a gateway: each connection goes by the tcp routes bound to its port. */
export class TcpGatewayListener implements PortListener {
  private readonly server: Server;

  constructor(deps: TcpDeps, port: number) {
    this.server = createServer((socket: Socket) => {
      socket.setNoDelay(true);
      socket.on('error', () => socket.destroy());
      handleOutboundTcp(deps, socket, `gateway port ${port}`, (cfg) => cfg.gatewayTcp(port));
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
