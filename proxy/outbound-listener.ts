// One outbound listener: the capture listener that iptables redirects the application's
// connections to, an explicit local listener for one service (rootless setups), or an HTTP
// listener of a gateway (its clients come from the network; the port's virtual hosts route). Each
// connection is told apart here, once: raw TCP (by what the destination's port declares, or by
// first bytes that are not HTTP), HTTP/2 with prior knowledge (gRPC, h2c), or HTTP/1.1 (the byte
// relay, which hands Node's HTTP server whatever it does not take).
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { looksLikeHttp1 } from '../core/http1/request-head.js';
import { handleOutboundStream } from './h2/outbound-h2.js';
import { H2Server, isH2Preface } from './h2/server.js';
import { OutboundFrames } from './h2/outbound-frames.js';
import { answerClientError, clientLimits, trackConnections } from './http-util.js';
import { firstBytes } from './first-bytes.js';
import { captureOriginalDestination } from './original-destination.js';
import { handleOutbound, handleOutboundUpgrade, type OutboundDeps } from './outbound.js';
import { resumeAsHttp } from './upgrade.js';
import { passthroughRefused, type ListenerBinding } from './outbound-route.js';
import { relayOutbound } from './outbound-relay.js';
import { Http1Relay } from './relay/downstream.js';
import { relayLimits } from './relay/limits.js';
import { handleOutboundTcp, handlePassthroughTcp, portProtocol } from './tcp.js';

export interface OutboundListenerOptions {
  /** An explicit listener's service, or a gateway listener's port; absent: the capture listener. */
  binding?: ListenerBinding;
  /** The capture listener: read each connection's original destination (SO_ORIGINAL_DST). */
  capture: boolean;
  headersTimeoutMs: number;
  /** A connection that sends nothing for this long is closed. */
  idleTimeoutMs: number;
  /**
   * How long to wait for the first bytes where they decide the protocol (an undeclared port, or
   * an address outside the mesh). A client that sends none by then, as with server-first
   * protocols (MySQL, SMTP), is carried as TCP.
   */
  protocolDetectionTimeoutMs: number;
  http1Relay?: boolean;
  /** HTTP/2 from the application relayed frame by frame (outbound-frames.ts); false: Node's http2 streams. */
  h2Relay?: boolean;
  /** Called when an HTTP/2 client resets most of its streams (rapid reset) and is cut off. */
  onRapidReset(peer: string | undefined): void;
}

export class OutboundListener {
  private readonly net: NetServer;
  private readonly http: Server;
  private readonly relay: Http1Relay | undefined;
  private readonly h2: H2Server;
  private readonly frames: OutboundFrames | undefined;

  constructor(
    private readonly deps: OutboundDeps,
    private readonly options: OutboundListenerOptions,
  ) {
    const service = options.binding;
    this.http = trackConnections(createServer(clientLimits(options), (req, res) => handleOutbound(deps, req, res, service)));
    this.http.timeout = options.idleTimeoutMs;
    this.http.on('clientError', answerClientError);
    this.http.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => handleOutboundUpgrade(deps, req, socket, head, (s, unread) => resumeAsHttp(this.http, s, unread), service));
    this.relay =
      options.http1Relay !== false
        ? new Http1Relay(
            (rr) => relayOutbound(deps, rr, service),
            (s) => this.http.emit('connection', s),
            relayLimits(options),
          )
        : undefined;
    this.h2 = new H2Server(
      (stream, headers) => handleOutboundStream(deps, stream, headers, service),
      (session) => options.onRapidReset(session.socket?.remoteAddress),
      options.idleTimeoutMs,
    );
    this.frames = options.h2Relay !== false ? new OutboundFrames(deps, { binding: service, idleTimeoutMs: options.idleTimeoutMs, onAbuse: (peer) => options.onRapidReset(peer) }) : undefined;
    this.net = createNetServer((socket) => this.accept(socket));
  }

  listen(port: number, host: string): Promise<number> {
    return new Promise((resolve, reject) => {
      this.net.once('error', reject);
      this.net.listen(port, host, () => resolve((this.net.address() as { port: number }).port));
    });
  }

  /** Open connections, including those handed to the relay, HTTP or HTTP/2 servers. */
  connections(): Promise<number> {
    return new Promise((resolve) => this.net.getConnections((_err, n) => resolve(n ?? 0)));
  }

  /** Stop accepting; idle keep-alive connections close, requests in flight finish. */
  drain(): void {
    this.net.close();
    this.http.closeIdleConnections();
    this.relay?.drain();
    this.h2.drain();
    this.frames?.drain();
  }

  close(): void {
    this.drain();
    this.relay?.close();
    this.h2.close();
    this.frames?.close();
    this.http.closeAllConnections();
  }

  /** A connection that arrived elsewhere: a gateway's HTTPS listener hands over each one once TLS has ended. */
  acceptConnection(socket: Socket): void {
    this.accept(socket);
  }

  private accept(socket: Socket): void {
    socket.setNoDelay(true);
    // A client that resets before its first bytes must cost its connection only (an 'error'
    // with no listener would end the process); whoever takes the socket adds its own handling.
    socket.on('error', () => socket.destroy());
    const deps = this.deps;
    const binding = this.options.binding;
    // The outbound side serves this host's applications only: connections redirected by the
    // capture rules arrive on loopback, as do calls to an explicit local listener. Anyone else
    // reaching this port over the network would borrow the workload's identity (an open proxy
    // into the mesh), so such connections are closed before a byte is read. A gateway's
    // listeners are for the network: only the routes bound to them lead anywhere.
    const gateway = binding !== undefined && 'gatewayPort' in binding;
    if (!gateway && !isLoopback(socket.localAddress)) {
      deps.log?.({ direction: 'outbound', refused: 'connection from the network to an outbound listener', peer: socket.remoteAddress, local: socket.localAddress });
      return void socket.destroy();
    }
    const cfg = deps.config();
    const original = this.options.capture ? captureOriginalDestination(socket) : undefined;
    const fixed = binding && 'service' in binding ? binding.service : undefined;
    const service = fixed ? cfg?.byName.get(fixed) : original && cfg?.serviceForEndpoint(original.address, original.port);
    const speaks = service && portProtocol(service, original?.port);
    if (service && speaks === 'tcp') return handleOutboundTcp(deps, socket, service.name);
    // Where bytes that are not HTTP go: an undeclared mesh port carries them as TCP, an address
    // outside the mesh passes them through (or refuses them); otherwise HTTP's parser answers 400.
    let asTcp: (() => void) | undefined;
    if (service && speaks === 'auto') asTcp = () => handleOutboundTcp(deps, socket, service.name);
    else if (!service && original) asTcp = () => handlePassthroughTcp(deps, socket, original, passthroughRefused(deps, original.port));
    firstBytes(socket, asTcp ? this.options.protocolDetectionTimeoutMs : this.options.idleTimeoutMs, (first) => {
      if (!first) return asTcp ? asTcp() : socket.destroy();
      const h2 = isH2Preface(first);
      const tcp = asTcp && !h2 && !looksLikeHttp1(first);
      if (this.relay && !h2 && !tcp) return this.relay.accept(socket, first);
      socket.pause();
      socket.unshift(first);
      if (tcp) return asTcp!();
      if (h2 && this.frames) this.frames.accept(socket);
      else if (h2) this.h2.accept(socket);
      else this.http.emit('connection', socket);
      process.nextTick(() => socket.resume());
    });
  }
}

/** 127.0.0.0/8 and ::1, also as IPv4-mapped IPv6 on a dual-stack listener. */
export function isLoopback(address: string | undefined): boolean {
  if (!address) return false;
  const a = address.startsWith('::ffff:') ? address.slice(7) : address;
  return a === '::1' || a.startsWith('127.');
}
