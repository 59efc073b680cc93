// An HTTPS server of a gateway: TLS ends here, then the request goes the way of the gateway's
// HTTP listener (the same outbound listener and chains). Each Gateway server on the port brings
// its certificate (SIMPLE, MUTUAL: a TLS credential the gateway fetches from the controller, never
// from a snapshot; ISTIO_MUTUAL: the gateway's own mesh identity), chosen by the client's SNI.
// Client certificates (MUTUAL, ISTIO_MUTUAL) must chain to that server's CAs and, when the server
// lists subjectAltNames, carry one of them; anything else is closed after the handshake.
import { createSecureContext, createServer, type SecureContext, type Server, type TLSSocket } from 'node:tls';
import { X509Certificate } from 'node:crypto';
import type { GatewayListener, GatewayTls } from '../core/snapshot/types.js';
import type { TlsCredential } from '../core/pki/tls-credential.js';
import { hostMatches } from '../core/snapshot/gateway-binding.js';
import type { PortListener } from './gateway-listeners.js';
import type { IdentityMaterial } from './identity.js';

/** A server's certificate and the CAs its client certificates must chain to. */
interface ServerContext {
  tls: GatewayTls;
  certPem: string;
  keyPem: string;
  /** PEM of the CAs a client certificate must chain to ('' for SIMPLE), and their SHA-256 fingerprints. */
  caPem: string;
  clientCas: Set<string>;
  context?: SecureContext;
}

export interface HttpsGatewayDeps {
  /** The listener that takes the decrypted connections (the gateway binding of the outbound listener). */
  inner: { acceptConnection(socket: TLSSocket): void; connections(): Promise<number>; drain(): void; close(): void };
  credential(ref: string): Promise<TlsCredential>;
  identity(): IdentityMaterial;
  log(line: Record<string, unknown>, message: string): void;
}

const fingerprintsOf = (pem: string) => new Set((pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []).map((c) => new X509Certificate(c).fingerprint256));

export class HttpsGatewayListener implements PortListener {
  private readonly server: Server;
  private servers: ServerContext[] = [];
  private port = 0;

  /** `mutual`: some server on the port checks client certificates, so every client is asked for one (checked per server). */
  constructor(
    private readonly deps: HttpsGatewayDeps,
    mutual: boolean,
  ) {
    this.server = createServer(
      {
        requestCert: mutual,
        rejectUnauthorized: false,
        ALPNProtocols: ['h2', 'http/1.1'],
        SNICallback: (name, cb) => cb(null, this.pick(name)?.context),
      },
      (socket) => this.secured(socket),
    );
    this.server.on('tlsClientError', (err, socket) => {
      this.deps.log({ port: this.port, peer: socket.remoteAddress, err: err.message }, 'gateway TLS handshake failed');
      socket.destroy();
    });
  }

  /** Fetches the credentials the port's servers name and switches to them; throws if none can serve. */
  async update(l: GatewayListener): Promise<void> {
    const next: ServerContext[] = [];
    const id = this.deps.identity();
    for (const tls of l.tls ?? []) {
      try {
        next.push(await this.contextFor(tls, id));
      } catch (err) {
        this.deps.log({ port: l.port, hosts: tls.hosts, credential: tls.credential, err: (err as Error).message }, 'gateway HTTPS server not served: its credential is missing or unusable');
      }
    }
    if (next.length === 0) throw new Error(`no HTTPS server on port ${l.port} has a usable certificate`);
    // Every context verifies with the CAs of every server on the port, so that the one SNI picks
    // decides nothing about verification; which CAs a connection needed is checked after.
    const allCas = [...new Set(next.map((x) => x.caPem).filter(Boolean))].join('');
    for (const x of next) x.context = createSecureContext(options(x, allCas));
    this.server.setSecureContext(options(next[0], allCas));
    this.servers = next;
  }

  listen(port: number, host: string): Promise<number> {
    this.port = port;
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => resolve((this.server.address() as { port: number }).port));
    });
  }

  async connections(): Promise<number> {
    const own = await new Promise<number>((resolve) => this.server.getConnections((_e, n) => resolve(n ?? 0)));
    return own + (await this.deps.inner.connections());
  }

  drain(): void {
    this.server.close();
    this.deps.inner.drain();
  }

  close(): void {
    this.server.close();
    this.deps.inner.close();
  }

  /** The server a client's SNI names: the first whose hosts match, else the first. */
  private pick(servername: string | undefined): ServerContext | undefined {
    const name = (servername ?? '').toLowerCase();
    return this.servers.find((s) => s.tls.hosts.some((h) => hostMatches(h, name))) ?? this.servers[0];
  }

  private secured(socket: TLSSocket): void {
    socket.on('error', () => socket.destroy());
    const server = this.pick(socket.servername || undefined);
    if (!server) return void socket.destroy();
    if (server.tls.mode !== 'SIMPLE') {
      const refused = this.clientRefusal(socket, server);
      if (refused) {
        this.deps.log({ port: this.port, peer: socket.remoteAddress, refused }, 'gateway refused a client certificate');
        return void socket.destroy();
      }
    }
    this.deps.inner.acceptConnection(socket);
  }

  /** Why a mutual server refuses this client, or undefined. */
  private clientRefusal(socket: TLSSocket, server: ServerContext): string | undefined {
    const peer = socket.getPeerCertificate(true);
    if (!peer || Object.keys(peer).length === 0) return 'no client certificate';
    if (!socket.authorized) return `client certificate not trusted: ${String(socket.authorizationError)}`;
    // Walk to the root OpenSSL verified, and require one of this server's CAs on the way.
    let chained = false;
    const seen = new Set<string>();
    for (let c: typeof peer | undefined = peer; c && !seen.has(c.fingerprint256); c = c.issuerCertificate) {
      seen.add(c.fingerprint256);
      if (c !== peer && server.clientCas.has(c.fingerprint256)) chained = true;
    }
    if (!chained) return "client certificate not issued by this server's CA";
    const wanted = server.tls.subjectAltNames;
    if (wanted.length === 0) return undefined;
    const sans = (peer.subjectaltname ?? '').split(',').map((s) => s.trim().replace(/^(DNS|URI|IP Address):/, ''));
    return sans.some((s) => wanted.includes(s)) ? undefined : `client certificate names ${sans.join(', ') || 'nothing'}, not one of ${wanted.join(', ')}`;
  }

  private async contextFor(tls: GatewayTls, id: IdentityMaterial): Promise<ServerContext> {
    if (tls.mode === 'ISTIO_MUTUAL') {
      const caPem = id.trustBundle.join('');
      return { tls, certPem: id.certPem, keyPem: id.keyPem, caPem, clientCas: fingerprintsOf(caPem) };
    }
    if (!tls.credential) throw new Error('no credentialName');
    const c = await this.deps.credential(tls.credential);
    if (tls.mode === 'MUTUAL' && !c.ca) throw new Error(`credential ${tls.credential} has no CA bundle, which mode MUTUAL needs (meshctl secret create tls ... --ca FILE)`);
    const caPem = tls.mode === 'MUTUAL' ? c.ca! : '';
    return { tls, certPem: c.cert, keyPem: c.key, caPem, clientCas: fingerprintsOf(caPem) };
  }
}

function options(s: ServerContext, allCas: string) {
  return {
    cert: s.certPem,
    key: s.keyPem,
    ...(allCas ? { ca: allCas } : {}),
    ...(s.tls.minVersion ? { minVersion: s.tls.minVersion } : {}),
    ...(s.tls.maxVersion ? { maxVersion: s.tls.maxVersion } : {}),
  };
}
