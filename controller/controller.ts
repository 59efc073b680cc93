// Wires the controller together and owns its lifecycle: start, drain (answer open watches and
// stop taking new connections), close.
import { X509Certificate, randomBytes } from 'node:crypto';
import { writeFile, mkdir, readFile, rename } from 'node:fs/promises';
import { Agent as HttpAgent, type IncomingMessage } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { TLSSocket } from 'node:tls';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import Consul from 'consul';
import type { Logger } from 'pino';
import { MeshError } from '../core/errors.js';
import { readMeshConfig, type MeshConfig } from '../core/mesh-config.js';
import { parseDocuments } from '../core/resources/parse.js';
import { parseSpiffe } from '../core/pki/spiffe.js';
import { generateKeyPair, signerFor } from '../core/pki/keys.js';
import { buildCsr } from '../core/pki/x509.js';
import { registerCaRoutes } from './api/ca-api.js';
import { registerCatalogRoutes } from './api/catalog-api.js';
import type { ApiDeps } from './api/deps.js';
import { registerProxyRoutes } from './api/proxies-api.js';
import { registerMeshViewRoutes } from './api/mesh-view-api.js';
import { registerWebUi } from './api/web-ui.js';
import { registerResourceRoutes } from './api/resources-api.js';
import { peerCertificateUris, refuseRenegotiation, Router, type Principal } from './api/router.js';
import { registerStatusRoutes } from './api/status-api.js';
import { registerSecretRoutes } from './api/secrets-api.js';
import { CredentialStore } from './secrets/credential-store.js';
import { AGENT_TOKEN_FILE, Credentials } from './auth/credentials.js';
import { CertificateAuthority } from './ca/authority.js';
import type { Catalog } from './catalog/catalog.js';
import { ConsulCatalog } from './catalog/consul-catalog.js';
import { EmbeddedCatalog } from './catalog/embedded.js';
import { ConsulKvStore } from './kv/consul-kv.js';
import { ConsulLiveness } from './consul/liveness.js';
import { StaleHostReaper } from './consul/stale-hosts.js';
import { FileKvStore } from './kv/file-kv.js';
import type { KvStore } from './kv/kv-store.js';
import type { ControllerOptions } from './options.js';
import { ResourceStore } from './resources/resource-store.js';
import { MESH_VERSION } from '../common/version.js';
import { ControlPlaneMetrics } from './metrics.js';
import { SnapshotHub } from './snapshots/hub.js';
import { TelemetryAggregator } from './telemetry/aggregator.js';
import { SharedTelemetry } from './telemetry/shared-telemetry.js';
import { ConsulLeadership } from './leader/consul-leadership.js';
import { SoleLeader, type Leadership } from './leader/leadership.js';
import { consulAt } from '../common/consul-registration.js';

/** How often the leader looks at the CA root's remaining life. */
const ROOT_CHECK_MS = 10 * 60_000;

/** The TLS session context every controller shares, so that a session made at one resumes at another. */
const SESSION_ID_CONTEXT = 'hostmesh-controller';
/**
 * How long a TLS session may be resumed: a day, the default workload certificate's lifetime. A
 * certificate that has expired since its session began is refused (api/router.ts).
 */
const SESSION_LIFETIME_S = 24 * 3600;

export const CONTROLLER_VERSION = MESH_VERSION;
export const CA_FILE = 'ca.pem';

export class Controller {
  readonly kv: KvStore;
  readonly catalog: Catalog;
  readonly store: ResourceStore;
  readonly ca: CertificateAuthority;
  readonly credentials: Credentials;
  readonly hub: SnapshotHub;
  readonly metrics = new ControlPlaneMetrics(CONTROLLER_VERSION);
  readonly telemetry: TelemetryAggregator;
  private readonly sharedTelemetry: SharedTelemetry | undefined;
  /** Work that runs once in the mesh runs at the leader (one controller: itself). */
  readonly leadership: Leadership = new SoleLeader();
  private leaderJobs: NodeJS.Timeout | undefined;
  private readonly staleHosts: StaleHostReaper | undefined;
  private staleHostJob: NodeJS.Timeout | undefined;
  private readonly liveness: ConsulLiveness | undefined;
  private server: Server | undefined;
  private certTimer: NodeJS.Timeout | undefined;
  private readonly unsubscribe: (() => void)[] = [];
  /** External authorizers from --mesh-config, read at start. */
  private meshConfig: MeshConfig = { extensionProviders: [] };

  constructor(
    readonly options: ControllerOptions,
    private readonly log: Logger,
  ) {
    if (options.consul) {
      // Idle connections beyond a few are closed: the agent counts them against its per-client
      // limit as it does the watches (OTHER_CONNECTIONS), and the consul package keeps up to 256.
      const consul = new Consul({ ...consulAt(options.consul, '--consul'), agent: new HttpAgent({ keepAlive: true, maxFreeSockets: 8 }) });
      this.liveness = new ConsulLiveness(consul);
      this.kv = new ConsulKvStore(consul, options.consulKvPrefix, this.liveness);
      this.catalog = new ConsulCatalog(
        consul,
        this.liveness,
        (message) => this.log.error(message),
        (message) => this.log.info(message),
      );
      this.staleHosts = new StaleHostReaper(consul, options.staleHostAfterMs);
      this.leadership = new ConsulLeadership(consul, `${options.consulKvPrefix}leader`, `${hostname()}:${process.pid}`, (leader, err) =>
        leader ? this.log.info('this controller leads now (it renews the CA root when due)') : this.log.info({ err }, 'this controller does not lead (any more)'),
      );
    } else {
      this.kv = new FileKvStore(join(options.dataDir, 'state.json'));
      this.catalog = new EmbeddedCatalog(join(options.dataDir, 'registry.json'));
    }
    this.store = new ResourceStore(this.kv);
    this.ca = new CertificateAuthority(this.kv, { trustDomain: options.trustDomain, leafTtlMs: options.leafTtlMs, rootLifetimeMs: options.rootLifetimeMs });
    this.credentials = new Credentials(this.kv, options.dataDir, options.adminToken);
    // With Consul, every controller's proxies' reports are merged into one mesh-wide view.
    this.telemetry = new TelemetryAggregator(options.telemetryWindowMs, (now) => this.sharedTelemetry?.peerEdges(now) ?? []);
    if (options.consul)
      this.sharedTelemetry = new SharedTelemetry(this.kv, this.telemetry, {
        publishMs: Math.min(2000, options.telemetryWindowMs),
        windowMs: options.telemetryWindowMs,
        onError: (err) => this.log.warn({ err }, 'sharing telemetry through Consul KV failed'),
      });
    this.hub = new SnapshotHub(
      () => ({
        resources: this.store.list(),
        services: this.catalog.endpoints(),
        trustDomain: options.trustDomain,
        rootNamespace: options.rootNamespace,
        trustBundle: this.ca.trustBundle(),
        extensionProviders: this.meshConfig.extensionProviders,
      }),
      { coalesceMs: options.coalesceMs, maxDelayMs: options.maxDelayMs, forgetAfterMs: 10 * 60_000 },
    );
  }

  get backend(): 'consul' | 'embedded' {
    return this.options.consul ? 'consul' : 'embedded';
  }

  /** The address the API listens on (after start). */
  get address(): { host: string; port: number } {
    const a = this.server?.address() as AddressInfo | undefined;
    return { host: this.options.host, port: a?.port ?? this.options.port };
  }

  async start(): Promise<void> {
    if (this.options.meshConfigFile) this.meshConfig = await loadMeshConfig(this.options.meshConfigFile);
    await mkdir(this.options.dataDir, { recursive: true, mode: 0o700 });
    await this.kv.start();
    await Promise.all([this.ca.start(), this.credentials.start(), this.store.start(), this.catalog.start()]);
    this.hub.start();
    this.sharedTelemetry?.start();
    this.leadership.start();
    this.leaderJobs = setInterval(() => {
      if (this.leadership.isLeader()) void this.ca.renewRootIfDue().catch((err: unknown) => this.log.error({ err }, 'renewing the CA root failed'));
    }, ROOT_CHECK_MS);
    this.leaderJobs.unref();
    const reaper = this.staleHosts;
    if (reaper) {
      this.staleHostJob = setInterval(
        () => {
          if (!this.leadership.isLeader()) return;
          reaper.sweep().then(
            (ids) => ids.length > 0 && this.log.info({ instances: ids }, 'deregistered the instances of hosts that are gone'),
            (err: unknown) => this.log.warn({ err }, 'clearing the instances of hosts that are gone failed'),
          );
        },
        Math.min(60_000, Math.max(500, this.options.staleHostAfterMs / 4)),
      );
      this.staleHostJob.unref();
    }
    const invalidate = (type: 'config' | 'endpoint' | 'secret') => () => {
      this.metrics.pushTriggers.inc({ type });
      this.hub.invalidate();
    };
    this.unsubscribe.push(
      this.store.onChange(invalidate('config')),
      this.catalog.onChange(invalidate('endpoint')),
      this.ca.onChange(invalidate('secret')),
      this.ca.onChange(() => this.refreshServingCert().catch((err: unknown) => this.log.error({ err }, 'renewing the API certificate failed'))),
    );

    const router = new Router({ authenticate: (req) => this.authenticate(req) }, this.options.bodyLimitBytes, (err, req) => this.log.error({ err, url: req.url }, 'request failed'));
    const deps: ApiDeps = {
      store: this.store,
      catalog: this.catalog,
      catalogBackend: this.backend,
      ca: this.ca,
      credentials: this.credentials,
      hub: this.hub,
      telemetry: this.telemetry,
      metrics: this.metrics,
      health: () => this.health(),
      maxWatchMs: this.options.maxWatchMs,
      version: CONTROLLER_VERSION,
      rootNamespace: this.options.rootNamespace,
      isLeader: () => this.leadership.isLeader(),
      // Room for 64 reports of the largest size a body may have, per identity.
      configDumpBytesPerIdentity: 64 * this.options.bodyLimitBytes,
    };
    registerStatusRoutes(router, deps);
    registerResourceRoutes(router, deps);
    registerCaRoutes(router, deps);
    registerCatalogRoutes(router, deps);
    registerProxyRoutes(router, deps);
    registerMeshViewRoutes(router, deps);
    registerWebUi(router);
    registerSecretRoutes(router, new CredentialStore(this.kv));

    const { cert, key } = this.servingCertificate();
    // Client certificates are asked for but not required: admins use a bearer token.
    this.server = createServer(
      {
        cert,
        key,
        ca: this.ca.trustBundle(),
        requestCert: true,
        rejectUnauthorized: false,
        minVersion: 'TLSv1.2',
        // Sessions resume at any controller of the mesh: the same ticket keys (from the CA) and
        // the same session context (Node's default differs with the command line).
        ticketKeys: this.ca.sessionTicketKeys(),
        sessionIdContext: SESSION_ID_CONTEXT,
        sessionTimeout: SESSION_LIFETIME_S,
      },
      router.handle,
    );
    this.server.on('secureConnection', refuseRenegotiation);
    this.server.on('secureConnection', (socket: TLSSocket) => this.metrics.handshakes.inc({ resumed: String(socket.isSessionReused()) }));
    this.server.keepAliveTimeout = 65_000;
    this.server.headersTimeout = 10_000;
    this.server.requestTimeout = this.options.maxWatchMs + 30_000;
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      // Thousands of sidecars reconnect at once after a controller restarts or another one
      // fails: a deep accept queue (capped by net.core.somaxconn) instead of Node's 511.
      this.server!.listen({ port: this.options.port, host: this.options.host, backlog: 4096 }, () => resolve());
    });
    await this.writeLocalFiles();
    this.log.info({ address: this.address, backend: this.backend, trustDomain: this.options.trustDomain, dataDir: this.options.dataDir }, 'controller started');
  }

  health(): { status: 'ok' | 'degraded'; components: Record<string, string> } {
    const components = {
      catalog: this.catalog.warning?.() ?? (this.catalog.healthy() ? 'ok' : `unreachable (${this.backend}); serving the last known catalog`),
      store: this.kv.healthy() ? 'ok' : 'unreachable; serving the last known resources',
    };
    return { status: Object.values(components).every((c) => c === 'ok') ? 'ok' : 'degraded', components };
  }

  /**
   * SIGTERM: stops taking connections, answers every open watch (so proxies and agents go to
   * another controller at once), lets requests in flight finish for up to `deadlineMs` (default
   * --drain-timeout), then closes.
   */
  async drain(deadlineMs = this.options.drainTimeoutMs): Promise<void> {
    this.stopAccepting();
    const deadline = Date.now() + deadlineMs;
    while (Date.now() < deadline && (await this.openConnections()) > 0) {
      this.server?.closeIdleConnections(); // connections whose request has finished since
      await new Promise((r) => setTimeout(r, 50));
    }
    await this.close();
  }

  /** Stops now: open requests and watches are cut. */
  async close(): Promise<void> {
    this.stopAccepting();
    clearTimeout(this.certTimer);
    this.server?.closeAllConnections();
    for (const u of this.unsubscribe) u();
    this.hub.close();
    this.sharedTelemetry?.close();
    clearInterval(this.leaderJobs);
    clearInterval(this.staleHostJob);
    await this.leadership.close();
    await Promise.all([this.catalog.close(), this.store.close(), this.ca.close(), this.credentials.close()]);
    await this.kv.close();
    this.liveness?.close();
  }

  private stopAccepting(): void {
    this.hub.drain();
    if (this.server?.listening) this.server.close();
    this.server?.closeIdleConnections();
  }

  private openConnections(): Promise<number> {
    const server = this.server;
    if (!server) return Promise.resolve(0);
    return new Promise((resolve) => server.getConnections((err, n) => resolve(err ? 0 : n)));
  }

  private authenticate(req: IncomingMessage): Principal {
    const uris = peerCertificateUris(req);
    if (uris.length > 0) {
      try {
        const id = parseSpiffe(uris[0]);
        if (id.trustDomain === this.options.trustDomain) return { kind: 'workload', service: id.service, namespace: id.namespace, identity: uris[0] };
      } catch {
        // not a mesh identity: fall through to the token
      }
    }
    const h = req.headers.authorization;
    if (h?.startsWith('Bearer ')) {
      const token = h.slice(7).trim();
      if (this.credentials.isAdminToken(token)) return { kind: 'admin' };
      const host = this.credentials.agentHost(token);
      if (host) return { kind: 'agent', host };
    }
    return { kind: 'anonymous' };
  }

  /** The API's own certificate, from this CA, renewed at half its life and on root rotation. */
  private servingCertificate(): { cert: string; key: string } {
    const key = generateKeyPair();
    const names = ['localhost', hostname(), ...this.options.apiNames.filter((n) => !/^[\d.:]+$/.test(n))];
    const ips = ['127.0.0.1', '::1', ...this.options.apiNames.filter((n) => /^[\d.:]+$/.test(n))];
    if (/^[\d.:]+$/.test(this.options.host) && !ips.includes(this.options.host) && this.options.host !== '0.0.0.0' && this.options.host !== '::') ips.push(this.options.host);
    const identity = { trustDomain: this.options.trustDomain, namespace: 'mesh-system', service: 'mesh-controller' };
    const csr = buildCsr(key.spkiDer, { uris: [`spiffe://${identity.trustDomain}/ns/${identity.namespace}/sa/${identity.service}`] }, signerFor(key.privateKey));
    const cert = this.ca.issue(csr, identity, this.options.leafTtlMs, { dnsNames: names, ips });
    const ttl = new X509Certificate(cert).validTo;
    clearTimeout(this.certTimer);
    this.certTimer = setTimeout(
      () => this.refreshServingCert().catch((err: unknown) => this.log.error({ err }, 'renewing the API certificate failed')),
      Math.max(60_000, (Date.parse(ttl) - Date.now()) / 2),
    );
    this.certTimer.unref();
    return { cert: cert + this.ca.trustBundle()[0], key: key.privateKeyPem };
  }

  private async refreshServingCert(): Promise<void> {
    if (!this.server?.listening) return;
    const { cert, key } = this.servingCertificate();
    this.server.setSecureContext({ cert, key, ca: this.ca.trustBundle(), minVersion: 'TLSv1.2', sessionIdContext: SESSION_ID_CONTEXT });
    this.server.setTicketKeys(this.ca.sessionTicketKeys());
    await this.writeLocalFiles();
  }

  /** The CA bundle and the API address, for meshctl on this host. */
  private async writeLocalFiles(): Promise<void> {
    const write = async (name: string, text: string) => {
      const path = join(this.options.dataDir, name);
      const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
      await writeFile(tmp, text, { mode: 0o644 });
      await rename(tmp, path);
    };
    await write(CA_FILE, this.ca.trustBundle().join(''));
    const a = this.address;
    const host = a.host === '0.0.0.0' || a.host === '::' ? '127.0.0.1' : a.host;
    await write('controller-address', `https://${host.includes(':') ? `[${host}]` : host}:${a.port}\n`);
    if (this.options.shareDir) await this.writeShareDir(this.options.shareDir);
  }

  /**
   * For host agents that mount a directory of this host (compose): the CA bundle and an agent
   * token, made once and kept. An agent token mints bootstrap tokens and registers instances;
   * it cannot change config, so a compromised agent host cannot rewrite the mesh's policy.
   */
  private async writeShareDir(dir: string): Promise<void> {
    await mkdir(dir, { recursive: true, mode: 0o755 });
    await writeFile(join(dir, CA_FILE), this.ca.trustBundle().join(''), { mode: 0o644 });
    const tokenPath = join(dir, AGENT_TOKEN_FILE);
    const existing = await readFile(tokenPath, 'utf8').then(
      (t) => t.trim(),
      () => '',
    );
    if (existing) await this.credentials.adoptAgentToken(existing, 'shared');
    else await writeFile(tokenPath, `${await this.credentials.createAgentToken('shared')}\n`, { mode: 0o600 });
  }
}

/** Reads and checks --mesh-config: a bad file stops the start with every violation named. */
async function loadMeshConfig(file: string): Promise<MeshConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new MeshError('INVALID_ARGUMENT', `--mesh-config ${file} cannot be read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
  }
  const docs = parseDocuments(text, file);
  if (docs.length > 1) throw new MeshError('INVALID_ARGUMENT', `--mesh-config ${file} holds ${docs.length} documents; give one MeshConfig`);
  return readMeshConfig(docs[0]?.value, file);
}
