// Raw TCP through the mesh. Outbound: a connection to a TCP service (through its local listener,
// or captured on its way to one of the service's instances) is routed by the service's tcp
// routes (weighted subsets), and carried over mTLS to the remote sidecar, which the ALPN protocol
// `mesh-tcp` tells to treat the stream as bytes, not HTTP. Captured TCP to anything else is
// passed through to where it was going (ALLOW_ANY) or closed (REGISTRY_ONLY).
import type { Socket } from 'node:net';
import { tcpEntry, upstreamClusterName, type AccessLog } from './access-log.js';
import { provenPrincipal, upstreamTransport } from '../core/routing/transport.js';
import type { Duplex } from 'node:stream';
import { TLSSocket } from 'node:tls';
import { endpointKey } from '../core/routing/balancer.js';
import { pickWeighted } from '../core/routing/match.js';
import type { CompiledTcpRoute, OutboundService } from '../core/snapshot/types.js';
import { hostMatches } from '../core/snapshot/gateway-binding.js';
import type { ProxyMetrics, TcpLabels } from './metrics.js';
import { emptyTcpLabels, setDestination, setDestinationService, setSource } from './istio-labels.js';
import { isMeshCluster } from './outbound-route.js';
import { UNKNOWN_WORKLOAD } from '../core/workload-meta.js';
import type { RuntimeConfig } from './runtime-config.js';
import type { UpstreamPool } from './upstream-pool.js';
import { connectPlain, splice } from './upgrade.js';
import type { Address } from './original-destination.js';
import { RESPONSE_FLAGS } from './pipeline/response-flags.js';

export const MESH_TCP_ALPN = 'mesh-tcp';

export interface TcpDeps {
  config(): RuntimeConfig | undefined;
  pool: UpstreamPool;
  metrics: ProxyMetrics;
  upgraded: Set<Duplex>;
  /** Notices (connections refused); the access log is `accessLog`. */
  log?(line: Record<string, unknown>): void;
  accessLog?: AccessLog;
  random?: () => number;
}

/**
 * What a connection to a service speaks, as far as its registration says: `tcp` (bytes, at
 * once), `auto` (undeclared: told by the first bytes) or `http` (HTTP/1.1, HTTP/2 or gRPC). The
 * port the application dialled decides when it is known; else all of the service's ports.
 */
export function portProtocol(svc: OutboundService, port?: number): 'tcp' | 'auto' | 'http' {
  const declared = port === undefined ? undefined : svc.ports.find((p) => p.port === port)?.protocol;
  if (declared) return declared === 'tcp' || declared === 'auto' ? declared : 'http';
  if (svc.ports.length > 0 && svc.ports.every((p) => p.protocol === 'tcp')) return 'tcp';
  return svc.ports.some((p) => p.protocol === 'auto') && svc.ports.every((p) => p.protocol === 'auto' || p.protocol === 'tcp') ? 'auto' : 'http';
}

/**
 * A TCP connection for a mesh service (`serviceName`), or for a gateway port's bound
 * VirtualService (`pick`): routed by its tcp routes to a cluster, carried over mTLS.
 */
export function handleOutboundTcp(
  deps: TcpDeps,
  socket: Socket,
  serviceName: string,
  pick: (cfg: RuntimeConfig) => OutboundService | undefined = (cfg) => cfg.byName.get(serviceName),
  /** The TLS server name the client asked for (a passthrough gateway), which tls routes match. */
  sni?: string,
): void {
  const cfg = deps.config();
  const random = deps.random ?? Math.random;
  const service = cfg && pick(cfg);
  const holds = (m: CompiledTcpRoute['match'][number]) =>
    (m.port === undefined || service!.ports.some((p) => p.port === m.port)) && (!m.sniHosts || (sni !== undefined && m.sniHosts.some((h) => hostMatches(h, sni))));
  const route = service?.tcpRoutes.find((r) => r.match.length === 0 || r.match.some(holds));
  const dest = route && pickWeighted(route.destinations, random() * 100);
  const entry = dest && cfg?.clusterFor(dest.cluster, dest.port);
  const endpoint = entry?.balancer.pick({ now: Date.now(), random, hashKey: socket.remoteAddress });
  if (!cfg || !service || !entry || !endpoint) {
    logTcp(deps, performance.now(), RESPONSE_FLAGS.NO_HEALTHY_UPSTREAM, socket, null, null, false);
    return void socket.destroy();
  }
  const transport = upstreamTransport(entry.cluster, endpoint);
  // The service called is the cluster's (a gateway's route names it; the VirtualService is not a service).
  const mesh = isMeshCluster(entry.cluster);
  const labels = sourceTcpLabels(cfg, entry.cluster.service, mesh ? entry.cluster.namespace : undefined);
  setDestination(labels, mesh ? cfg.workloadOf(entry.cluster, endpoint) : UNKNOWN_WORKLOAD, provenPrincipal(transport));
  entry.balancer.started(endpoint);
  pipeTcp(
    deps,
    socket,
    deps.pool.connectRaw(entry.cluster, endpoint, [MESH_TCP_ALPN]),
    labels,
    { host: endpointKey(endpoint), cluster: upstreamClusterName(entry.cluster, dest.port, service), mtls: transport.kind === 'mesh-mtls' },
    (ok) => entry.balancer.finished(endpoint, ok ? 200 : 0, Date.now()),
  );
}

/**
 * A captured connection that is not HTTP, to an address outside the mesh: piped to where the
 * application dialled (PassthroughCluster, plaintext as it came), or, when `refused` says why
 * not (REGISTRY_ONLY, or one of the sidecar's own ports), closed (BlackHoleCluster), as Istio does.
 */
export function handlePassthroughTcp(deps: TcpDeps, socket: Socket, to: Address, refused: string | undefined): void {
  const labels = sourceTcpLabels(deps.config(), refused ? 'BlackHoleCluster' : 'PassthroughCluster', undefined);
  const upstreamHost = `${to.address}:${to.port}`;
  if (refused) {
    labels.response_flags = RESPONSE_FLAGS.NO_ROUTE;
    deps.metrics.tcpOpened.inc(labels);
    deps.metrics.tcpClosed.inc(labels);
    logTcp(deps, performance.now(), RESPONSE_FLAGS.NO_ROUTE, socket, upstreamHost, 'BlackHoleCluster', false);
    deps.log?.({ direction: 'outbound', protocol: 'tcp', upstream_host: upstreamHost, refused });
    return void socket.destroy();
  }
  pipeTcp(deps, socket, connectPlain(to.address, to.port), labels, { host: upstreamHost, cluster: 'PassthroughCluster', mtls: false });
}

function sourceTcpLabels(cfg: RuntimeConfig | undefined, destination: string, namespace: string | undefined): TcpLabels {
  const labels = emptyTcpLabels('source');
  if (cfg) setSource(labels, cfg.me, cfg.snapshot.proxy.identity);
  setDestinationService(labels, destination, namespace);
  return labels;
}

/** Once the upstream is connected (TLS: handshake done), the two become one byte pipe, counted. */
function pipeTcp(deps: TcpDeps, socket: Socket, upstream: Duplex, labels: TcpLabels, to: { host: string; cluster: string | null; mtls: boolean }, done?: (ok: boolean) => void): void {
  let connected = false;
  const started = performance.now();
  socket.pause();
  upstream.once(upstream instanceof TLSSocket ? 'secureConnect' : 'connect', () => {
    connected = true;
    deps.metrics.tcpOpened.inc(labels);
    count(deps.metrics, labels, socket, upstream);
    splice(socket, upstream, deps.upgraded, () => {
      done?.(true);
      deps.metrics.tcpClosed.inc(labels);
      logTcp(deps, started, labels.response_flags, socket, to.host, to.cluster, to.mtls);
    });
    socket.resume();
  });
  upstream.once('error', (err: Error) => {
    if (connected) return; // a failure mid-stream: splice closes both and counts the close
    done?.(false);
    const failed = { ...labels, response_flags: RESPONSE_FLAGS.UPSTREAM_CONNECTION_FAILURE };
    deps.metrics.tcpOpened.inc(failed);
    deps.metrics.tcpClosed.inc(failed);
    logTcp(deps, started, RESPONSE_FLAGS.UPSTREAM_CONNECTION_FAILURE, socket, to.host, to.cluster, to.mtls, err.message);
    socket.destroy();
  });
}

/** The access-log line of an outbound connection, when it has ended (or was refused). */
function logTcp(deps: TcpDeps, started: number, flags: string, socket: Socket, upstreamHost: string | null, upstreamCluster: string | null, mtls: boolean, failure?: string): void {
  if (!deps.accessLog?.wants('client')) return;
  const entry = tcpEntry({ started, flags, bytesReceived: socket.bytesRead, bytesSent: socket.bytesWritten, upstreamHost, upstreamCluster, downstream: socket, ...(failure ? { failure } : {}) });
  deps.accessLog.write('client', entry, { mtls });
}

/** Counts bytes as Istio does: sent = towards the destination, received = back from it. */
export function count(metrics: ProxyMetrics, labels: TcpLabels, downstream: Duplex, upstream: Duplex): void {
  // A connection's labels are settled once it is connected: its two series are found once, not per chunk.
  const sent = metrics.tcpSent.of(labels);
  const received = metrics.tcpReceived.of(labels);
  downstream.on('data', (c: Buffer) => (sent.value += c.length));
  upstream.on('data', (c: Buffer) => (received.value += c.length));
}
