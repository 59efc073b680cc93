// Istio's standard metrics, with Istio's names and labels, so that existing dashboards and
// queries work; plus the sidecar's own health gauges.
import { Metric, type MetricFamily } from './exposition.js';
import { RequestMetrics } from './request-metrics.js';
import { MESH_VERSION } from '../common/version.js';

/** Istio's standard labels (istio.io "Istio Standard Metrics"), in the order that keys a series. */
const WORKLOAD_LABELS = [
  'reporter',
  'source_workload',
  'source_workload_namespace',
  'source_principal',
  'source_app',
  'source_version',
  'source_cluster',
  'source_canonical_service',
  'source_canonical_revision',
  'destination_workload',
  'destination_workload_namespace',
  'destination_principal',
  'destination_app',
  'destination_version',
  'destination_service',
  'destination_service_name',
  'destination_service_namespace',
  'destination_cluster',
  'destination_canonical_service',
  'destination_canonical_revision',
  'request_protocol',
] as const;

export const ISTIO_LABELS = [...WORKLOAD_LABELS, 'response_code', 'grpc_response_status', 'response_flags', 'connection_security_policy'] as const;

export type IstioLabels = Record<(typeof ISTIO_LABELS)[number], string>;

/** TCP metrics: the same, with request_protocol "tcp" and no response or gRPC code. */
export const TCP_LABELS = [...WORKLOAD_LABELS, 'connection_security_policy', 'response_flags'] as const;

export type TcpLabels = Record<(typeof TCP_LABELS)[number], string>;

// Istio's default buckets for istio_request_duration_milliseconds.
const DURATION_BUCKETS = [0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000];
const SIZE_BUCKETS = [1, 10, 100, 1000, 10000, 100000, 1000000, 10000000];

export class ProxyMetrics {
  /** istio_requests_total, istio_request_duration_milliseconds, istio_request_bytes, istio_response_bytes. */
  private readonly requestMetrics = new RequestMetrics(
    ISTIO_LABELS,
    { requests: 'istio_requests_total', duration: 'istio_request_duration_milliseconds', requestBytes: 'istio_request_bytes', responseBytes: 'istio_response_bytes' },
    { duration: DURATION_BUCKETS, size: SIZE_BUCKETS },
    { requests: 'Requests, by Istio standard labels', duration: 'Request duration', requestBytes: 'Request body sizes', responseBytes: 'Response body sizes' },
  );
  readonly tcpSent = new Metric('istio_tcp_sent_bytes_total', 'Bytes sent towards the destination over TCP', 'counter', TCP_LABELS);
  readonly tcpReceived = new Metric('istio_tcp_received_bytes_total', 'Bytes received from the destination over TCP', 'counter', TCP_LABELS);
  readonly tcpOpened = new Metric('istio_tcp_connections_opened_total', 'TCP connections opened', 'counter', TCP_LABELS);
  readonly tcpClosed = new Metric('istio_tcp_connections_closed_total', 'TCP connections closed', 'counter', TCP_LABELS);
  /** Istio's build info, as its sidecars report it (component="proxy"). */
  private readonly build = new Metric('istio_build', 'Istio component build info (value 1)', 'gauge', ['component', 'tag']);
  readonly configVersion = new Metric('mesh_proxy_config_info', 'The applied snapshot version (value 1)', 'gauge', ['version']);
  readonly configRejected = new Metric('mesh_proxy_config_rejected_total', 'Snapshots refused', 'counter');
  readonly configReceived = new Metric('mesh_proxy_config_received_total', 'Snapshots received, whole (full) or as changes since the one held (delta)', 'counter', ['kind']);
  readonly certExpiry = new Metric('mesh_proxy_certificate_expiry_seconds', 'Seconds until the workload certificate expires', 'gauge');
  readonly upstreamActive = new Metric('mesh_proxy_upstream_requests_active', 'Requests in flight to upstreams', 'gauge', ['cluster']);
  readonly upstreamConnections = new Metric('mesh_proxy_upstream_connections', 'Connections open to upstreams (other sidecars, the application excluded)', 'gauge');
  readonly ejections = new Metric('mesh_proxy_outlier_ejections_total', 'Endpoints ejected by outlier detection', 'counter', ['cluster']);
  readonly overflows = new Metric('mesh_proxy_upstream_overflow_total', 'Requests refused by connection-pool limits (response flag UO)', 'counter', ['cluster']);
  readonly dryRun = new Metric('mesh_proxy_authz_dry_run_total', 'What dry-run AuthorizationPolicies (istio.io/dry-run) would have decided, per action; never enforced', 'counter', [
    'action',
    'result',
    'policy',
  ]);
  private readonly families: MetricFamily[] = [
    this.build,
    this.requestMetrics,
    this.tcpSent,
    this.tcpReceived,
    this.tcpOpened,
    this.tcpClosed,
    this.configVersion,
    this.configRejected,
    this.configReceived,
    this.certExpiry,
    this.upstreamActive,
    this.upstreamConnections,
    this.ejections,
    this.overflows,
    this.dryRun,
  ];

  constructor() {
    this.build.set({ component: 'proxy', tag: MESH_VERSION }, 1);
  }

  record(labels: IstioLabels, ms: number, reqBytes: number, resBytes: number): void {
    this.requestMetrics.record(labels, ms, reqBytes, resBytes);
  }

  setConfigVersion(version: string): void {
    this.configVersion.reset();
    this.configVersion.set({ version }, 1);
  }

  /** Prometheus text format (version 0.0.4). */
  text(): string {
    return this.families.map((f) => f.text()).join('\n');
  }
}
