// Connection pools to upstream endpoints (undici pools): mTLS with the mesh identity, verifying
// the server's SPIFFE ID, to endpoints that have a sidecar; plaintext to the others. A renewed
// certificate gives new pools for new requests; the old ones close once their requests finish.
import { connect as tlsConnect, TLSSocket, type ConnectionOptions } from 'node:tls';
import { PassThrough } from 'node:stream';
import type { Duplex } from 'node:stream';
import { connectPlain } from './upgrade.js';
import type { Pool } from 'undici';
import { undici } from './undici-lazy.js';
import { endpointKey } from '../core/routing/balancer.js';
import type { Cluster, Endpoint } from '../core/snapshot/types.js';
import { upstreamTransport, type UpstreamTransport } from '../core/routing/transport.js';
import { tlsOptionsFor } from './tls-origination.js';
import type { IdentityMaterial } from './identity.js';
import { SocketPool, type PoolLimits } from './relay/socket-pool.js';
import { applyKeepalive } from './tcp-keepalive.js';
import { H2Sessions } from './h2/sessions.js';
import { ClientLinks, type ClientLink } from './h2/client-links.js';
import type { ClientHttp2Session } from 'node:http2';

export interface Target {
  pool: Pool;
  mtls: boolean;
}

export class UpstreamPool {
  private pools = new Map<string, Pool>();
  private identity: IdentityMaterial | undefined;
  /** Kept-alive connections for the HTTP/1.1 relay. */
  private readonly sockets = new SocketPool();
  /** HTTP/2 sessions, one per endpoint, for streams from h2c and gRPC clients. */
  private readonly h2 = new H2Sessions();
  /** HTTP/2 connections of the frame relay (outbound-frames.ts), one taking new streams per endpoint. */
  private readonly links = new ClientLinks();

  setIdentity(identity: IdentityMaterial): void {
    this.identity = identity;
    this.sockets.retire();
    this.h2.retire();
    this.links.retire();
    const old = this.pools;
    this.pools = new Map();
    for (const p of old.values()) void p.close().catch(() => undefined);
  }

  target(cluster: Cluster, e: Endpoint): Target {
    const t = upstreamTransport(cluster, e);
    const cp = cluster.connectionPool;
    const key = `${transportKey(t)}|${endpointKey(e)}|${cp.maxConnections}|${cp.idleTimeoutMs}|${cp.maxRequestsPerConnection}|${cp.connectTimeoutMs}${keepaliveKey(cluster)}`;
    let pool = this.pools.get(key);
    if (!pool) {
      const host = e.address.includes(':') ? `[${e.address}]` : e.address;
      let tls: ConnectionOptions | undefined;
      try {
        tls = tlsOptionsFor(t, this.identity, ['http/1.1']);
      } catch (err) {
        // A rule's file that cannot be read: this request fails with why (503 UF), and the next
        // one reads the file again (the failing pool is not kept).
        return { pool: new (undici().Pool)(`https://${host}:${t.port}`, { connect: (_o, done) => done(err as Error, null) }), mtls: false };
      }
      pool = new (undici().Pool)(`${tls ? 'https' : 'http'}://${host}:${t.port}`, {
        connections: Math.min(cluster.connectionPool.maxConnections, 1024),
        pipelining: 1,
        // DestinationRule maxRequestsPerConnection: 0 means unlimited.
        ...(cluster.connectionPool.maxRequestsPerConnection > 0 ? { maxRequestsPerClient: cluster.connectionPool.maxRequestsPerConnection } : {}),
        keepAliveTimeout: Math.min(cluster.connectionPool.idleTimeoutMs, 600_000),
        keepAliveMaxTimeout: Math.min(cluster.connectionPool.idleTimeoutMs, 600_000),
        headersTimeout: 0,
        bodyTimeout: 0,
        connect: keepaliveConnector(tls, cluster),
      });
      this.pools.set(key, pool);
    }
    return { pool, mtls: t.kind === 'mesh-mtls' };
  }

  /** A raw connection to an endpoint (for the relay, upgrades and TCP), secured as the transport decision says. */
  connectRaw(cluster: Cluster, e: Endpoint, alpn: string[] = ['http/1.1']): Duplex {
    const t = upstreamTransport(cluster, e);
    let tls: ConnectionOptions | undefined;
    try {
      tls = tlsOptionsFor(t, this.identity, alpn);
    } catch (err) {
      // Fails as a connection that could not be made does: the caller's 'error' handler says why.
      const failed = new PassThrough();
      process.nextTick(() => failed.destroy(err as Error));
      return failed;
    }
    const socket = tls ? tlsConnect({ host: e.address, port: t.port, ...tls }) : connectPlain(e.address, t.port);
    // Request and answer are single writes: Nagle's algorithm would only hold them back.
    if (tls) (socket as TLSSocket).setNoDelay(true);
    applyKeepalive(socket, cluster.connectionPool.tcpKeepalive);
    return socket;
  }

  /** A kept-alive connection to the endpoint for the relay (secured as the pools would). */
  acquireSocket(cluster: Cluster, e: Endpoint, fresh = false): Promise<Duplex> {
    const key = socketKey(upstreamTransport(cluster, e), e, cluster);
    if (fresh) this.sockets.dropIdle(key);
    return this.sockets.acquire(key, cluster.connectionPool, () => {
      const socket = this.connectRaw(cluster, e);
      return { socket, ready: socket instanceof TLSSocket ? 'secureConnect' : 'connect' };
    });
  }

  /** The connection carried a request before (so it may have died while idle). */
  wasUsed(socket: Duplex): boolean {
    return this.sockets.wasUsed(socket);
  }

  releaseSocket(socket: Duplex, reusable: boolean, cluster: Cluster): void {
    this.sockets.release(socket, reusable, cluster.connectionPool);
  }

  /** A kept-alive plaintext connection to a host outside the mesh (ALLOW_ANY passthrough). */
  acquirePassthrough(host: string, port: number, fresh = false): Promise<Duplex> {
    if (fresh) this.sockets.dropIdle(`pt|${host}|${port}`);
    return this.sockets.acquire(`pt|${host}|${port}`, PASSTHROUGH_LIMITS, () => ({ socket: connectPlain(host, port), ready: 'connect' }));
  }

  releasePassthrough(socket: Duplex, reusable: boolean): void {
    this.sockets.release(socket, reusable, PASSTHROUGH_LIMITS);
  }

  /** Node's path to a host outside the mesh. */
  passthroughPool(host: string, port: number): Pool {
    const key = `pt|${host}|${port}`;
    let pool = this.pools.get(key);
    if (!pool) {
      pool = new (undici().Pool)(`http://${host.includes(':') ? `[${host}]` : host}:${port}`, { connections: 256, pipelining: 1, headersTimeout: 0, bodyTimeout: 0 });
      this.pools.set(key, pool);
    }
    return pool;
  }

  /** An h2c session to a host outside the mesh (ALLOW_ANY passthrough of HTTP/2 streams). */
  h2Passthrough(host: string, port: number): ClientHttp2Session {
    return this.h2.get(`pt|${host}|${port}`, `http://${host.includes(':') ? `[${host}]` : host}:${port}`, undefined, PASSTHROUGH_LIMITS.idleTimeoutMs);
  }

  /** The HTTP/2 session to an endpoint: over mTLS (ALPN h2) to its sidecar, TLS where the rule originates it, or h2c. */
  h2Session(cluster: Cluster, e: Endpoint): ClientHttp2Session {
    const t = upstreamTransport(cluster, e);
    const host = e.address.includes(':') ? `[${e.address}]` : e.address;
    const key = socketKey(t, e, cluster);
    const { connectTimeoutMs, idleTimeoutMs } = cluster.connectionPool;
    const scheme = t.kind === 'plaintext' ? 'http' : 'https';
    return this.h2.get(key, `${scheme}://${host}:${t.port}`, () => connectedWithin(this.connectRaw(cluster, e, ['h2']), connectTimeoutMs), idleTimeoutMs);
  }

  /** The frame relay's HTTP/2 connection to an endpoint, secured as h2Session's. */
  h2Link(cluster: Cluster, e: Endpoint): ClientLink {
    const t = upstreamTransport(cluster, e);
    const { connectTimeoutMs, idleTimeoutMs } = cluster.connectionPool;
    return this.links.get(
      socketKey(t, e, cluster),
      () => {
        const socket = this.connectRaw(cluster, e, ['h2']);
        return connectedWithin(t.kind === 'plaintext' ? socket : requireH2(socket), connectTimeoutMs);
      },
      idleTimeoutMs,
    );
  }

  /** The frame relay's h2c connection to a host outside the mesh (ALLOW_ANY). */
  h2PassthroughLink(host: string, port: number): ClientLink {
    return this.links.get(`pt|${host}|${port}`, () => connectedWithin(connectPlain(host, port), PASSTHROUGH_LIMITS.connectTimeoutMs), PASSTHROUGH_LIMITS.idleTimeoutMs);
  }

  /** Upstream connections open now: relay sockets, HTTP/2 sessions, and Node's path's pools. */
  connections(): number {
    let n = this.sockets.openCount + this.h2.size + this.links.size;
    for (const p of this.pools.values()) n += p.stats.connected;
    return n;
  }

  async close(): Promise<void> {
    this.sockets.close();
    this.h2.close();
    this.links.close();
    await Promise.all([...this.pools.values()].map((p) => p.destroy().catch(() => undefined)));
    this.pools.clear();
  }
}

/**
 * A connection not ready (connected, and its TLS handshake done) within the cluster's connect
 * timeout fails with why, as the relay's pool does (DestinationRule `connectTimeout`): its
 * streams fail as a connect failure, to be retried elsewhere, instead of waiting for the kernel.
 */
function connectedWithin(socket: Duplex, ms: number): Duplex {
  const ready = socket instanceof TLSSocket ? 'secureConnect' : 'connect';
  const timer = setTimeout(() => socket.destroy(new Error(`connect timeout after ${ms} ms`)), ms);
  socket.once(ready, () => clearTimeout(timer));
  socket.once('close', () => clearTimeout(timer));
  return socket;
}

/** A TLS connection on which the server did not choose HTTP/2 fails with why (as Node's http2 client would). */
function requireH2(socket: Duplex): Duplex {
  if (socket instanceof TLSSocket)
    socket.once('secureConnect', () => {
      if (socket.alpnProtocol !== 'h2') socket.destroy(new Error(`the upstream chose ${socket.alpnProtocol || 'no protocol'} by ALPN, not h2`));
    });
  return socket;
}

const PASSTHROUGH_LIMITS: PoolLimits = { maxConnections: 256, maxRequestsPerConnection: 0, idleTimeoutMs: 60_000, connectTimeoutMs: 10_000 };

/** Pools and kept-alive sockets are shared only between connections secured the same way. */
function transportKey(t: UpstreamTransport): string {
  let key = transportKeys.get(t);
  if (key === undefined) transportKeys.set(t, (key = keyOf(t)));
  return key;
}

const transportKeys = new WeakMap<UpstreamTransport, string>();

/**
 * The key of an endpoint's kept-alive sockets (the relay) and HTTP/2 session, made once: a
 * transport is decided once per cluster and endpoint of a snapshot (core/routing/transport.ts),
 * so it stands for both. Joined anew for every request, the key was a new string to hash for the
 * pool's map each time. The rule's keepalive is part of it: a connection keeps the settings it
 * was made with, so a new rule gets new connections.
 */
function socketKey(t: UpstreamTransport, e: Endpoint, cluster: Cluster): string {
  let key = socketKeys.get(t);
  if (key === undefined) socketKeys.set(t, (key = `${transportKey(t)}|${endpointKey(e)}${keepaliveKey(cluster)}`));
  return key;
}

function keepaliveKey(cluster: Cluster): string {
  const k = cluster.connectionPool.tcpKeepalive;
  return k ? `|keepalive:${k.timeS ?? ''}/${k.intervalS ?? ''}/${k.probes ?? ''}` : '';
}

const socketKeys = new WeakMap<UpstreamTransport, string>();

function keyOf(t: UpstreamTransport): string {
  if (t.kind === 'plaintext') return 'tcp';
  if (t.kind === 'mesh-mtls') return `mtls|${t.expectedIds.join(',')}`;
  return `tls|${t.servername ?? ''}|${t.verifyNames.join(',')}|${t.caCertificates ?? ''}|${t.mutual ? `${t.clientCertificate}|${t.privateKey}` : ''}|${t.insecureSkipVerify}`;
}

/**
 * undici's own connector (TLS options, DestinationRule connectTimeout), and the rule's TCP
 * keepalive on each connection it makes, as on the relay's: undici would otherwise turn keepalive
 * on after 60 s idle by itself.
 */
function keepaliveConnector(tls: ConnectionOptions | undefined, cluster: Cluster): import('undici').buildConnector.connector {
  const connect = undici().buildConnector({ ...(tls ?? {}), timeout: cluster.connectionPool.connectTimeoutMs, ...(cluster.connectionPool.tcpKeepalive ? { keepAlive: false } : {}) });
  return (options, callback) =>
    connect(options, (err, socket) => {
      if (socket) applyKeepalive(socket, cluster.connectionPool.tcpKeepalive);
      if (err) callback(err, null);
      else callback(null, socket!);
    });
}
