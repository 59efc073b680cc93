// HTTP/2 client sessions, one per destination, shared by every stream to it: over mTLS with ALPN
// `h2` to an endpoint's sidecar (verifying its SPIFFE ID), or cleartext (h2c) to the local
// application or an endpoint outside the mesh. A session that closes or is told to go away is
// dropped and the next stream opens a new one.
import { connect, type ClientHttp2Session, type SecureClientSessionOptions } from 'node:http2';
import type { Duplex } from 'node:stream';
import { connectPlain } from '../upgrade.js';

function plainConnection(authority: string): Duplex {
  const url = new URL(authority);
  return connectPlain(url.hostname.replace(/^\[|\]$/g, ''), Number(url.port || 80));
}

export class H2Sessions {
  private sessions = new Map<string, ClientHttp2Session>();

  /** `connectSocket` opens the transport (a TLS socket with ALPN h2); absent: h2c to the authority. Closed once idle for `idleTimeoutMs`, when given. */
  get(key: string, authority: string, connectSocket?: () => Duplex, idleTimeoutMs?: number): ClientHttp2Session {
    const current = this.sessions.get(key);
    if (current && !current.closed && !current.destroyed) return current;
    // h2c too goes over a connection with Nagle's algorithm off: Node's default for http2.connect
    // leaves it on, and small frames then wait for the peer's delayed ACK (40 ms a call).
    const options: SecureClientSessionOptions = { createConnection: connectSocket ?? (() => plainConnection(authority)) };
    const session = connect(authority, options);
    session.on('error', () => undefined); // each stream reports its own failure
    const forget = () => {
      if (this.sessions.get(key) === session) this.sessions.delete(key);
    };
    session.once('close', forget);
    session.once('goaway', forget);
    // No activity for the idle timeout (DestinationRule `idleTimeout`): no new streams, open ones finish.
    if (idleTimeoutMs)
      session.setTimeout(idleTimeoutMs, () => {
        forget();
        session.close();
      });
    this.sessions.set(key, session);
    return session;
  }

  get size(): number {
    return this.sessions.size;
  }

  /** New streams get new sessions (a renewed certificate); open streams finish on the old ones. */
  retire(): void {
    const old = this.sessions;
    this.sessions = new Map();
    for (const s of old.values()) s.close();
  }

  close(): void {
    for (const s of this.sessions.values()) s.destroy();
    this.sessions.clear();
  }
}
