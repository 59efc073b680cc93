// Connection pools to upstream endpoints (undici pools): mTLS with the mesh identity, verifying
// the server's SPIFFE ID, to endpoints that have a sidecar; plaintext to the others. A renewed
// certificate gives new pools for new requests; the old ones close once their requests finish.
import { connect as tlsConnect, TLSSocket, type PeerCertificate } from 'node:tls';
import type { Duplex } from 'node:stream';
import { connectPlain } from './upgrade.js';
import type { Pool } from 'undici';
import { undici } from './undici-lazy.js';
import { endpointKey } from '../core/routing/balancer.js';
import type { Cluster, Endpoint } from '../core/snapshot/types.js';
import type { IdentityMaterial } from './identity.js';
import { SocketPool, type PoolLimits } from './relay/socket-pool.js';
import { H2Sessions } from './h2/sessions.js';
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

  setIdentity(identity: IdentityMaterial): void {
    this.identity = identity;
    this.sockets.retire();
    this.h2.retire();
    const old = this.pools;
    this.pools = new Map();
    for (const p of old.values()) void p.close().catch(() => undefined);
  }

  target(cluster: Cluster, e: Endpoint): Target {
    const mtls = useMtls(cluster, e);
    const port = mtls ? (e.sidecarPort ?? e.port) : e.port;
    const cp = cluster.connectionPool;
    const key = `${mtls ? 'tls' : 'tcp'}|${endpointKey(e)}|${cluster.tls.subjectAltNames.join(',')}|${cp.maxConnections}|${cp.idleTimeoutMs}|${cp.maxRequestsPerConnection}|${cp.connectTimeoutMs}`;
    let pool = this.pools.get(key);
    if (!pool) {
      const host = e.address.includes(':') ? `[${e.address}]` : e.address;
      const expected = cluster.tls.subjectAltNames;
      const id = this.identity;
      pool = new (undici().Pool)(`${mtls ? 'https' : 'http'}://${host}:${port}`, {
        connections: Math.min(cluster.connectionPool.maxConnections, 1024),
        pipelining: 1,
        // DestinationRule maxRequestsPerConnection: 0 means unlimited.
        ...(cluster.connectionPool.maxRequestsPerConnection > 0 ? { maxRequestsPerClient: cluster.connectionPool.maxRequestsPerConnection } : {}),
        keepAliveTimeout: Math.min(cluster.connectionPool.idleTimeoutMs, 600_000),
        keepAliveMaxTimeout: Math.min(cluster.connectionPool.idleTimeoutMs, 600_000),
        connectTimeout: cluster.connectionPool.connectTimeoutMs,
        headersTimeout: 0,
        bodyTimeout: 0,
        connect: mtls
          ? {
              cert: id?.certPem,
              key: id?.keyPem,
              ca: id?.trustBundle,
              ALPNProtocols: ['http/1.1'],
              checkServerIdentity: (_host: string, cert: PeerCertificate) => spiffeMismatch(cert, expected),
            }
          : undefined,
      });
      this.pools.set(key, pool);
    }
    return { pool, mtls };
  }

  /** A raw connection to an endpoint (for upgraded protocols), with the same mTLS rules as the pools. */
  connectRaw(cluster: Cluster, e: Endpoint, alpn: string[] = ['http/1.1']): Duplex {
    if (!useMtls(cluster, e)) return connectPlain(e.address, e.port);
    const id = this.identity;
    const expected = cluster.tls.subjectAltNames;
    const socket = tlsConnect({ host: e.address, port: e.sidecarPort ?? e.port, cert: id?.certPem, key: id?.keyPem, ca: id?.trustBundle, ALPNProtocols: alpn, checkServerIdentity: (_h: string, cert: PeerCertificate) => spiffeMismatch(cert, expected) });
    // Request and answer are single writes: Nagle's algorithm would only hold them back.
    socket.setNoDelay(true);
    return socket;
  }

  /** A kept-alive connection to the endpoint for the relay (mTLS where the pools would use it). */
  acquireSocket(cluster: Cluster, e: Endpoint, fresh = false): Promise<Duplex> {
    const mtls = useMtls(cluster, e);
    const key = `${mtls ? 'tls' : 'tcp'}|${endpointKey(e)}|${cluster.tls.subjectAltNames.join(',')}`;
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
    return this.h2.get(`pt|${host}|${port}`, `http://${host.includes(':') ? `[${host}]` : host}:${port}`);
  }

  /** The HTTP/2 session to an endpoint: over mTLS (ALPN h2) to its sidecar, or h2c where there is none. */
  h2Session(cluster: Cluster, e: Endpoint): ClientHttp2Session {
    const mtls = useMtls(cluster, e);
    const host = e.address.includes(':') ? `[${e.address}]` : e.address;
    const key = `${mtls ? 'tls' : 'tcp'}|${endpointKey(e)}|${cluster.tls.subjectAltNames.join(',')}`;
    return mtls ? this.h2.get(key, `https://${host}:${e.sidecarPort ?? e.port}`, () => this.connectRaw(cluster, e, ['h2'])) : this.h2.get(key, `http://${host}:${e.port}`);
  }

  /** Upstream connections open now: relay sockets, HTTP/2 sessions, and Node's path's pools. */
  connections(): number {
    let n = this.sockets.openCount + this.h2.size;
    for (const p of this.pools.values()) n += p.stats.connected;
    return n;
  }

  async close(): Promise<void> {
    this.sockets.close();
    this.h2.close();
    await Promise.all([...this.pools.values()].map((p) => p.destroy().catch(() => undefined)));
    this.pools.clear();
  }
}

/** The peer proves the destination's identity by its SPIFFE ID, not by a DNS name. */
function spiffeMismatch(cert: PeerCertificate, expected: string[]): Error | undefined {
  const uris = (cert.subjectaltname ?? '').split(', ').filter((s) => s.startsWith('URI:')).map((s) => s.slice(4));
  if (expected.length === 0 || uris.some((u) => expected.includes(u))) return undefined;
  return new Error(`upstream presented ${uris.join(', ') || 'no identity'}, expected ${expected.join(' or ')}`);
}

const PASSTHROUGH_LIMITS: PoolLimits = { maxConnections: 256, maxRequestsPerConnection: 0, idleTimeoutMs: 60_000, connectTimeoutMs: 10_000 };

function useMtls(c: Cluster, e: Endpoint): boolean {
  switch (c.tls.mode) {
    case 'ISTIO_MUTUAL':
      return true;
    case 'AUTO':
      return e.sidecarPort !== undefined;
    default:
      return false;
  }
}
