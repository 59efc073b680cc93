// Raw TCP through the mesh. Outbound: a connection to a TCP service's local listener is routed
// by the service's tcp routes (weighted subsets), and carried over mTLS to the remote sidecar,
// which the ALPN protocol `mesh-tcp` tells to treat the stream as bytes, not HTTP.
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { TLSSocket } from 'node:tls';
import { endpointKey } from '../core/routing/balancer.js';
import { pickWeighted } from '../core/routing/match.js';
import type { OutboundService } from '../core/snapshot/types.js';
import type { ProxyMetrics, TcpLabels } from './metrics.js';
import type { RuntimeConfig } from './runtime-config.js';
import type { UpstreamPool } from './upstream-pool.js';
import { splice } from './upgrade.js';

export const MESH_TCP_ALPN = 'mesh-tcp';

export interface TcpDeps {
  config(): RuntimeConfig | undefined;
  pool: UpstreamPool;
  metrics: ProxyMetrics;
  upgraded: Set<Duplex>;
  log?(line: Record<string, unknown>): void;
  random?: () => number;
}

export function isTcpService(svc: OutboundService | undefined): boolean {
  return Boolean(svc && svc.ports.length > 0 && svc.ports.every((p) => p.protocol === 'tcp'));
}

/** A service whose ports do not say what they speak (registered without a protocol): detected per connection. */
export function isUndeclaredService(svc: OutboundService | undefined): boolean {
  return Boolean(svc && svc.ports.some((p) => p.protocol === 'auto') && svc.ports.every((p) => p.protocol === 'auto' || p.protocol === 'tcp'));
}

export function handleOutboundTcp(deps: TcpDeps, socket: Socket, serviceName: string): void {
  const cfg = deps.config();
  const random = deps.random ?? Math.random;
  const service = cfg?.byName.get(serviceName);
  const route = service?.tcpRoutes.find((r) => r.match.length === 0 || r.match.some((m) => m.port === undefined || service.ports.some((p) => p.port === m.port)));
  const dest = route && pickWeighted(route.destinations, random() * 100);
  const entry = dest && cfg?.clusters.get(dest.cluster);
  const endpoint = entry?.balancer.pick({ now: Date.now(), random, hashKey: socket.remoteAddress });
  if (!cfg || !service || !entry || !endpoint) {
    deps.log?.({ direction: 'outbound', protocol: 'tcp', service: serviceName, refused: 'no route or no healthy upstream', flags: 'UH' });
    return void socket.destroy();
  }
  const me = cfg.snapshot.proxy;
  const mtls = endpoint.sidecarPort !== undefined && entry.cluster.tls.mode !== 'DISABLE';
  const labels: TcpLabels = {
    reporter: 'source',
    source_workload: me.service,
    source_principal: me.identity,
    destination_service_name: service.name,
    destination_version: endpoint.labels.version ?? 'unknown',
    destination_principal: mtls ? (entry.cluster.tls.subjectAltNames[0] ?? 'unknown') : 'unknown',
    connection_security_policy: mtls ? 'mutual_tls' : 'none',
    response_flags: '-',
  };
  const upstream = deps.pool.connectRaw(entry.cluster, endpoint, [MESH_TCP_ALPN]);
  entry.balancer.started(endpoint);
  socket.pause();
  upstream.once(upstream instanceof TLSSocket ? 'secureConnect' : 'connect', () => {
    deps.metrics.tcpOpened.inc(labels);
    count(deps.metrics, labels, socket, upstream);
    splice(socket, upstream, deps.upgraded, () => {
      entry.balancer.finished(endpoint, 200, Date.now());
      deps.metrics.tcpClosed.inc(labels);
      deps.log?.({ direction: 'outbound', protocol: 'tcp', service: service.name, upstream_host: endpointKey(endpoint), closed: true });
    });
    socket.resume();
  });
  upstream.once('error', () => {
    entry.balancer.finished(endpoint, 0, Date.now());
    deps.metrics.tcpOpened.inc({ ...labels, response_flags: 'UF' });
    deps.metrics.tcpClosed.inc({ ...labels, response_flags: 'UF' });
    socket.destroy();
  });
}

/** Counts bytes as Istio does: sent = towards the destination, received = back from it. */
export function count(metrics: ProxyMetrics, labels: TcpLabels, downstream: Duplex, upstream: Duplex): void {
  downstream.on('data', (c: Buffer) => metrics.tcpSent.inc(labels, c.length));
  upstream.on('data', (c: Buffer) => metrics.tcpReceived.inc(labels, c.length));
}
