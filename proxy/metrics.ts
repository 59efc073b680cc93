// Istio's standard metrics, with Istio's names and labels, so that existing dashboards and
// queries work; plus the sidecar's own health gauges.
import { Counter, Gauge, Registry } from 'prom-client';
import { RequestMetrics } from './request-metrics.js';

export const ISTIO_LABELS = [
  'reporter',
  'source_workload',
  'source_principal',
  'destination_service_name',
  'destination_workload',
  'destination_version',
  'destination_principal',
  'request_protocol',
  'response_code',
  'grpc_response_status',
  'response_flags',
  'connection_security_policy',
] as const;

export type IstioLabels = Record<(typeof ISTIO_LABELS)[number], string>;

export const TCP_LABELS = ['reporter', 'source_workload', 'source_principal', 'destination_service_name', 'destination_version', 'destination_principal', 'connection_security_policy', 'response_flags'] as const;

export type TcpLabels = Record<(typeof TCP_LABELS)[number], string>;

// Istio's default buckets for istio_request_duration_milliseconds.
const DURATION_BUCKETS = [0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000];
const SIZE_BUCKETS = [1, 10, 100, 1000, 10000, 100000, 1000000, 10000000];

export class ProxyMetrics {
  readonly registry = new Registry();
  /** istio_requests_total, istio_request_duration_milliseconds, istio_request_bytes, istio_response_bytes. */
  private readonly requestMetrics = new RequestMetrics(
    this.registry,
    ISTIO_LABELS,
    { requests: 'istio_requests_total', duration: 'istio_request_duration_milliseconds', requestBytes: 'istio_request_bytes', responseBytes: 'istio_response_bytes' },
    { duration: DURATION_BUCKETS, size: SIZE_BUCKETS },
    { requests: 'Requests, by Istio standard labels', duration: 'Request duration', requestBytes: 'Request body sizes', responseBytes: 'Response body sizes' },
  );
  readonly tcpSent = new Counter({ name: 'istio_tcp_sent_bytes_total', help: 'Bytes sent towards the destination over TCP', labelNames: TCP_LABELS, registers: [this.registry] });
  readonly tcpReceived = new Counter({ name: 'istio_tcp_received_bytes_total', help: 'Bytes received from the destination over TCP', labelNames: TCP_LABELS, registers: [this.registry] });
  readonly tcpOpened = new Counter({ name: 'istio_tcp_connections_opened_total', help: 'TCP connections opened', labelNames: TCP_LABELS, registers: [this.registry] });
  readonly tcpClosed = new Counter({ name: 'istio_tcp_connections_closed_total', help: 'TCP connections closed', labelNames: TCP_LABELS, registers: [this.registry] });
  readonly configVersion = new Gauge({ name: 'mesh_proxy_config_info', help: 'The applied snapshot version (value 1)', labelNames: ['version'], registers: [this.registry] });
  readonly configRejected = new Counter({ name: 'mesh_proxy_config_rejected_total', help: 'Snapshots refused', registers: [this.registry] });
  readonly certExpiry = new Gauge({ name: 'mesh_proxy_certificate_expiry_seconds', help: 'Seconds until the workload certificate expires', registers: [this.registry] });
  readonly upstreamActive = new Gauge({ name: 'mesh_proxy_upstream_requests_active', help: 'Requests in flight to upstreams', labelNames: ['cluster'], registers: [this.registry] });
  readonly ejections = new Counter({ name: 'mesh_proxy_outlier_ejections_total', help: 'Endpoints ejected by outlier detection', labelNames: ['cluster'], registers: [this.registry] });
  readonly overflows = new Counter({ name: 'mesh_proxy_upstream_overflow_total', help: 'Requests refused by connection-pool limits (response flag UO)', labelNames: ['cluster'], registers: [this.registry] });

  record(labels: IstioLabels, ms: number, reqBytes: number, resBytes: number): void {
    this.requestMetrics.record(labels, ms, reqBytes, resBytes);
  }

  setConfigVersion(version: string): void {
    this.configVersion.reset();
    this.configVersion.set({ version }, 1);
  }
}
