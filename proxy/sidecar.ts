// The sidecar: identity, snapshot, inbound and outbound listeners, admin. start / drain / close.
import type { Server } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import type { ProxySnapshot } from '../core/snapshot/types.js';
import { createAdminServer } from './admin.js';
import { createStatusServer } from './status.js';
import { ControllerClient } from './controller-client.js';
import { IdentityManager, type IdentityMaterial } from './identity.js';
import { InboundListener } from './inbound.js';
import { ProxyMetrics } from './metrics.js';
import type { OutboundDeps } from './outbound.js';
import type { ListenerBinding } from './outbound-route.js';
import { RuntimeConfig } from './runtime-config.js';
import { SnapshotSource } from './snapshot-source.js';
import { UpstreamPool } from './upstream-pool.js';
import { TelemetryReporter } from './telemetry-reporter.js';
import { AccessLog } from './access-log.js';
import { ConfigDumpReporter } from './config-dump-reporter.js';
import { collectConfigDump } from './config-dump.js';
import type { ConfigDump, ListenerView } from '../core/config-dump.js';
import { JwksCache } from './jwks-cache.js';
import { Tracer } from './tracer.js';
import { OutboundListener } from './outbound-listener.js';
import { originalDestinations } from './original-destination.js';
import { keepaliveUnavailable } from './tcp-keepalive.js';
import { extAuthzClient } from './ext-authz-client.js';
import { DnsProxy } from './dns-proxy.js';
import { GatewayListeners, TcpGatewayListener } from './gateway-listeners.js';
import { HttpsGatewayListener } from './https-gateway-listener.js';
import type { TlsCredential } from '../core/pki/tls-credential.js';
import { DEFAULT_PROTOCOL_DETECTION_MS, type SidecarOptions } from './options.js';

export type { SidecarOptions } from './options.js';

export class Sidecar {
  readonly metrics = new ProxyMetrics();
  private readonly client: ControllerClient;
  private readonly ids: IdentityManager;
  private readonly source: SnapshotSource;
  private readonly pool = new UpstreamPool();
  private readonly telemetry: TelemetryReporter;
  private readonly dumps: ConfigDumpReporter;
  private readonly jwks = new JwksCache();
  private readonly upgraded = new Set<Duplex>();
  private config: RuntimeConfig | undefined;
  private inbound: InboundListener | undefined;
  private readonly outboundListeners: OutboundListener[] = [];
  private admin: Server | undefined;
  private status: Server | undefined;
  private dns: DnsProxy | undefined;
  /** A gateway's listeners, which follow its snapshot's Gateway servers. */
  private gateways: GatewayListeners | undefined;
  private credentialRefresh: NodeJS.Timeout | undefined;
  private readonly tracer: Tracer | undefined;
  private draining = false;
  /** Ports actually bound, after start (useful with port 0). */
  readonly ports: { inbound: number; outbound: number; admin: number; status: number; dns: number; upstreams: Record<string, number> } = {
    inbound: 0,
    outbound: 0,
    admin: 0,
    status: 0,
    dns: 0,
    upstreams: {},
  };

  constructor(
    readonly options: SidecarOptions,
    private readonly log: Logger,
  ) {
    this.client = new ControllerClient(options.controller, options.controllerCa);
    const identity = `spiffe://${options.trustDomain}/ns/${options.namespace}/sa/${options.serviceAccount ?? options.service}`;
    this.ids = new IdentityManager(this.client, { dataDir: options.dataDir, expectedIdentity: identity, bootstrapToken: options.bootstrapToken, renewAt: options.certRenewAt ?? 0.5, retryMs: 5000 });
    this.ids.on('error', (err: Error) => log.warn({ err: err.message }, 'certificate renewal failed; keeping the current certificate'));
    this.telemetry = new TelemetryReporter(this.client, options.proxyId, `${options.namespace}/${options.service}`, options.telemetryIntervalMs);
    this.dumps = new ConfigDumpReporter(this.client, options.proxyId, () => this.configDump(), options.telemetryIntervalMs);
    this.source = new SnapshotSource(
      this.client,
      {
        dataDir: options.dataDir,
        proxyId: options.proxyId,
        service: options.service,
        namespace: options.namespace,
        labels: options.labels,
        gateway: options.gateway,
        // The controller's longest: each stream (or poll) that ends is a request to open the next
        // one, a good part of an idle controller's work at thousands of proxies.
        waitSeconds: 60,
        heartbeatSeconds: 4,
        backoffMinMs: 200,
        backoffMaxMs: 10_000,
      },
      (s) => this.apply(s),
    );
    this.source.on('error', (err: Error) => log.warn({ err: err.message }, 'snapshot watch'));
    this.source.on('rejected', () => this.metrics.configRejected.inc());
    this.source.on('received', (kind: 'full' | 'delta') => this.metrics.configReceived.inc({ kind }));
    this.source.on('applied', (s: ProxySnapshot) => log.info({ version: s.version }, 'snapshot applied'));
    if (options.tracing) {
      this.tracer = new Tracer(
        {
          ...options.tracing,
          policy: () => this.config?.snapshot.telemetry?.tracing,
          resource: { 'service.name': options.service, 'service.namespace': options.namespace, 'service.instance.id': options.proxyId },
        },
        log,
      );
    }
  }

  /** A gateway's open listeners (Gateway server ports). */
  get gatewayPorts(): number[] {
    return this.gateways?.ports() ?? [];
  }

  /** What the sidecar runs now, in istioctl proxy-config's terms (admin GET /proxy_config, and the controller's copy). */
  configDump(): ConfigDump {
    const o = this.options;
    const listeners: ListenerView[] = [];
    const at = (address: string, port: number, type: string, match: string, destination: string) => listeners.push({ address, port, type, match, destination });
    if (this.inbound) at(o.bindHost, this.ports.inbound, 'inbound', 'mTLS, or plaintext under PERMISSIVE', `inbound|${o.appPort}|| (${o.appHost}:${o.appPort})`);
    if (this.ports.outbound) at(o.bindHost, this.ports.outbound, 'outbound', 'captured: HTTP by Host, TCP by original destination', 'routes');
    for (const [service, port] of Object.entries(this.ports.upstreams)) at(o.bindHost, port, 'upstream', 'every connection', service);
    const gatewayPorts = new Set(this.gatewayPorts);
    for (const l of this.config?.snapshot.gateway?.listeners ?? []) if (gatewayPorts.has(l.port)) at(o.bindHost, l.port, 'gateway', l.protocol, l.gateways.join(', '));
    if (this.ports.admin) at(o.adminBindHost ?? '127.0.0.1', this.ports.admin, 'admin', 'HTTP', 'admin interface');
    if (this.ports.status) at(o.bindHost, this.ports.status, 'status', 'HTTP', 'readiness, metrics');
    if (this.ports.dns) at('127.0.0.1', this.ports.dns, 'dns', 'DNS (UDP, TCP)', 'DNS proxy');
    return collectConfigDump({ proxy: o.proxyId, config: this.config, identity: this.identity, listeners, app: `${o.appHost}:${o.appPort}`, now: Date.now() });
  }

  get snapshot(): ProxySnapshot | undefined {
    return this.config?.snapshot;
  }

  get identity(): IdentityMaterial | undefined {
    try {
      return this.ids.current;
    } catch {
      return undefined;
    }
  }

  /** Obtains an identity and a snapshot, then opens the listeners; a start that fails releases whatever it had opened. */
  async start(): Promise<void> {
    try {
      await this.open();
    } catch (err) {
      await this.close().catch(() => undefined);
      throw err;
    }
  }

  private async open(): Promise<void> {
    await this.ids.start();
    this.ids.on('change', (id: IdentityMaterial) => this.useIdentity(id));
    this.pool.setIdentity(this.ids.current);
    await this.source.start();
    const o = this.options;
    // Istio's JSON access log on stdout; the sidecar's own log (notices among it) stays on stderr.
    const sink = typeof o.accessLog === 'function' ? o.accessLog : (line: string) => void process.stdout.write(line);
    const accessLog = o.accessLog === 'off' ? undefined : new AccessLog(sink, () => this.config);
    const notices = this.log.isLevelEnabled('info') ? (line: Record<string, unknown>) => this.log.info(line, 'connection') : undefined;
    // A gateway has no application, so no inbound listener: its traffic comes in on its Gateway listeners.
    if (!o.gateway) {
      this.inbound = new InboundListener({
        http1Relay: o.http1Relay,
        h2Relay: o.h2Relay,
        config: () => this.config,
        jwks: this.jwks,
        identity: () => this.ids.current,
        metrics: this.metrics,
        log: notices,
        accessLog,
        tracer: this.tracer,
        appHost: o.appHost,
        appPort: o.appPort,
        headersTimeoutMs: o.headersTimeoutMs,
        idleTimeoutMs: o.idleTimeoutMs,
        protocolDetectionTimeoutMs: o.protocolDetectionTimeoutMs ?? DEFAULT_PROTOCOL_DETECTION_MS,
        extAuthz: extAuthzClient(() => this.config, this.pool),
        notice: (line, message) => this.log.info(line, message),
      });
      this.ports.inbound = await this.inbound.listen(o.inboundPort, o.bindHost);
    }
    const deps: OutboundDeps = {
      config: () => this.config,
      pool: this.pool,
      metrics: this.metrics,
      log: notices,
      accessLog,
      tracer: this.tracer,
      upgraded: this.upgraded,
      report: (d, status, ms, mtls) => this.telemetry.record(d, status, ms, mtls),
    };
    if (o.outboundTrafficPolicy !== 'REGISTRY_ONLY')
      deps.passthrough = { ownPorts: () => [this.ports.inbound, this.ports.outbound, this.ports.admin, this.ports.status, ...Object.values(this.ports.upstreams)] };
    this.telemetry.start();
    this.tracer?.start();
    const noKeepalive = keepaliveUnavailable();
    if (noKeepalive) this.log.warn({ reason: noKeepalive }, "a DestinationRule's tcpKeepalive will set only its idle time on upstream connections");
    if (o.outboundPort >= 0) {
      const unavailable = originalDestinations();
      if (unavailable) this.log.warn({ reason: unavailable }, 'original destinations of captured connections are unavailable: captured traffic that is not HTTP is refused');
      this.ports.outbound = await this.listenOutbound(o.outboundPort, deps);
    }
    for (const u of o.upstreams) this.ports.upstreams[u.service] = await this.listenOutbound(u.port, deps, u.service);
    if (o.gateway) {
      this.gateways = new GatewayListeners({
        bindHost: o.bindHost,
        http: (port) => this.outboundListener(deps, { gatewayPort: port }),
        https: (port) => this.httpsGatewayListener(deps, port, false),
        httpsMutual: (port) => this.httpsGatewayListener(deps, port, true),
        tcp: (port) => new TcpGatewayListener(deps, port),
        tls: (port) => new TcpGatewayListener(deps, port, { helloTimeoutMs: o.protocolDetectionTimeoutMs ?? DEFAULT_PROTOCOL_DETECTION_MS, log: (line, message) => this.log.warn(line, message) }),
        log: (line, message) => this.log.info(line, message),
      });
      await this.gateways.update(this.config?.snapshot.gateway?.listeners ?? []);
      // A credential replaced with `meshctl secret create` changes no snapshot: look again now and then.
      this.credentialRefresh = setInterval(() => {
        if (!this.draining) void this.gateways?.update(this.config?.snapshot.gateway?.listeners ?? []);
      }, 30_000);
      this.credentialRefresh.unref();
    }
    this.admin = createAdminServer(this);
    this.ports.admin = await listenOn(this.admin, o.adminPort, o.adminBindHost ?? '127.0.0.1');
    if (o.statusPort !== undefined && o.statusPort >= 0) {
      this.status = createStatusServer(this);
      this.ports.status = await listenOn(this.status, o.statusPort, o.bindHost);
    }
    if (o.dns) {
      // Loopback only: the capture rules redirect the app's queries here; nobody else asks it.
      this.dns = new DnsProxy({ host: '127.0.0.1', port: o.dns.port, table: () => this.config?.dnsTable(), upstream: o.dns.upstream, log: (line, message) => this.log.warn(line, message) });
      this.ports.dns = await this.dns.start();
    }
    this.dumps.start();
    this.dumps.soon();
    this.log.info({ ports: this.ports, identity: this.ids.current.identity }, 'sidecar started');
  }

  readiness(): { ready: boolean; snapshot?: string; controllerConnected: boolean; draining: boolean } {
    return { ready: Boolean(this.config) && !this.draining, snapshot: this.config?.snapshot.version, controllerConnected: this.source.connected, draining: this.draining };
  }

  metricsText(): string {
    const id = this.identity;
    if (id) this.metrics.certExpiry.set({}, (id.notAfter.getTime() - Date.now()) / 1000);
    this.metrics.upstreamConnections.set({}, this.pool.connections());
    return this.metrics.text();
  }

  /** Stops accepting (admin POST /drain, as Envoy's /drain_listeners); requests in flight go on, idle keep-alive connections close. */
  stopAccepting(): void {
    if (this.draining) return;
    this.draining = true;
    this.inbound?.drain();
    for (const l of this.outboundListeners) l.drain();
    this.gateways?.drain();
  }

  /** SIGTERM: stops accepting, lets requests in flight finish for up to `deadlineMs` (default --drain-timeout), then closes. */
  async drain(deadlineMs = this.options.drainTimeoutMs): Promise<void> {
    this.stopAccepting();
    const deadline = Date.now() + deadlineMs;
    const open = async () => {
      const counts = await Promise.all([...this.outboundListeners.map((l) => l.connections()), this.gateways?.connections() ?? 0]);
      return counts.reduce((a, b) => a + b, 0) + (this.inbound?.openConnections() ?? 0);
    };
    while (Date.now() < deadline && (await open()) > 0) await new Promise((r) => setTimeout(r, 50));
    await this.close();
  }

  /** Stops now: every listener and connection closed, nothing waited for but the last telemetry and spans. */
  async close(): Promise<void> {
    this.stopAccepting();
    this.telemetry.close();
    this.dumps.close();
    await Promise.all([this.telemetry.flush(), this.tracer?.close()]);
    this.source.close();
    this.ids.close();
    this.inbound?.close();
    for (const l of this.outboundListeners) l.close();
    clearInterval(this.credentialRefresh);
    this.gateways?.close();
    for (const s of this.upgraded) s.destroy();
    for (const server of [this.admin, this.status]) {
      server?.close();
      server?.closeAllConnections();
    }
    this.dns?.close();
    this.pool.close();
    this.client.close();
  }

  private apply(s: ProxySnapshot): void {
    // Build everything first; a snapshot that cannot be built throws and the old one stays.
    const next = new RuntimeConfig(s, this.config);
    this.config = next;
    this.metrics.setConfigVersion(s.version);
    void this.jwks.prefetch(s.inbound.jwtRules);
    this.ids.updateTrustBundle(s.trustBundle);
    if (this.gateways && !this.draining) void this.gateways.update(s.gateway?.listeners ?? []);
    this.dumps.soon();
  }

  private useIdentity(id: IdentityMaterial): void {
    this.pool.setIdentity(id);
    this.inbound?.setIdentity(id);
  }

  private httpsGatewayListener(deps: OutboundDeps, port: number, mutual: boolean): HttpsGatewayListener {
    const listenerDeps = {
      inner: this.outboundListener(deps, { gatewayPort: port }),
      credential: (ref: string) => this.gatewayCredential(ref),
      identity: () => this.ids.current,
      log: (line: Record<string, unknown>, message: string) => this.log.warn(line, message),
    };
    return new HttpsGatewayListener(listenerDeps, mutual);
  }

  /** A TLS credential a Gateway server names (`namespace/name`), fetched over mTLS: the controller gives a gateway those of its own namespace only. */
  private async gatewayCredential(ref: string): Promise<TlsCredential> {
    const [namespace, name] = ref.split('/');
    const res = await this.client.request('GET', `/v1/gateway-credentials/${encodeURIComponent(namespace)}/${encodeURIComponent(name)}`);
    return JSON.parse(res.body) as TlsCredential;
  }

  /** The capture listener (no service), or an explicit local listener for one service. */
  private listenOutbound(port: number, deps: OutboundDeps, service?: string): Promise<number> {
    const listener = this.outboundListener(deps, service === undefined ? undefined : { service });
    this.outboundListeners.push(listener);
    return listener.listen(port, this.options.bindHost);
  }

  private outboundListener(deps: OutboundDeps, binding: ListenerBinding | undefined): OutboundListener {
    const o = this.options;
    return new OutboundListener(deps, {
      ...(binding ? { binding } : {}),
      capture: binding === undefined,
      headersTimeoutMs: o.headersTimeoutMs,
      idleTimeoutMs: o.idleTimeoutMs,
      protocolDetectionTimeoutMs: o.protocolDetectionTimeoutMs ?? DEFAULT_PROTOCOL_DETECTION_MS,
      http1Relay: o.http1Relay,
      h2Relay: o.h2Relay,
      onRapidReset: (peer) => this.log.warn({ peer }, 'HTTP/2 client reset most of its streams (rapid reset): connection closed'),
    });
  }
}

function listenOn(server: Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve((server.address() as { port: number }).port));
  });
}
