// The controller's own metrics, under the names istiod uses where we have an equivalent, so that
// Istio's control-plane dashboard reads them: build, pushes and their time and size, connected
// proxies, config and registry events, push triggers, certificate signing; plus Node's process
// metrics (prom-client's defaults). Served at GET /metrics on the API port.
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

export class ControlPlaneMetrics {
  readonly registry = new Registry();
  private readonly build = new Gauge({ name: 'istio_build', help: 'Istio component build info (value 1)', labelNames: ['component', 'tag'], registers: [this.registry] });
  readonly pushes = new Counter({ name: 'pilot_xds_pushes', help: 'Snapshots sent to proxies, by type', labelNames: ['type'], registers: [this.registry] });
  /** Its `snapshot` series, looked up once: a push counts thousands. */
  readonly snapshotPushes = this.pushes.labels('snapshot');
  readonly connected = new Gauge({
    name: 'pilot_xds',
    help: 'Proxies known to this controller (holding a watch or seen within the forget window)',
    labelNames: ['version'],
    registers: [this.registry],
  });
  readonly rejects = new Counter({ name: 'pilot_total_xds_rejects', help: 'Configuration refused, by type (resources failing validation)', labelNames: ['type'], registers: [this.registry] });
  readonly internalErrors = new Gauge({ name: 'pilot_total_xds_internal_errors', help: 'Snapshots that could not be compiled', registers: [this.registry] });
  readonly pushTime = new Histogram({
    name: 'pilot_xds_push_time',
    help: 'Seconds from compiling a snapshot to sending it to a proxy',
    buckets: [0.01, 0.1, 0.5, 1, 3, 5, 10, 20, 30],
    registers: [this.registry],
  });
  readonly convergence = new Histogram({
    name: 'pilot_proxy_convergence_time',
    help: 'Seconds from the change that made a snapshot to its push',
    buckets: [0.1, 0.5, 1, 3, 5, 10, 20, 30],
    registers: [this.registry],
  });
  readonly configSize = new Histogram({
    name: 'pilot_xds_config_size_bytes',
    help: 'Size of the snapshots sent, bytes',
    buckets: [1, 10_000, 100_000, 1_000_000, 10_000_000, 40_000_000],
    registers: [this.registry],
  });
  readonly cfgEvents = new Counter({ name: 'pilot_k8s_cfg_events', help: 'Resource changes through this controller, by kind and event', labelNames: ['type', 'event'], registers: [this.registry] });
  readonly regEvents = new Counter({ name: 'pilot_k8s_reg_events', help: 'Catalog registrations through this controller, by event', labelNames: ['type', 'event'], registers: [this.registry] });
  readonly pushTriggers = new Counter({ name: 'pilot_push_triggers', help: 'What made snapshots be compiled again', labelNames: ['type'], registers: [this.registry] });
  readonly csrs = new Counter({ name: 'citadel_server_csr_count', help: 'Certificate signing requests received', registers: [this.registry] });
  readonly handshakes = new Counter({
    name: 'mesh_controller_tls_handshakes_total',
    help: 'TLS handshakes at the API, by whether they resumed an earlier session (a proxy back from another controller, or from before a restart)',
    labelNames: ['resumed'],
    registers: [this.registry],
  });
  readonly issued = new Counter({ name: 'citadel_server_success_cert_issuance_count', help: 'Certificates issued', registers: [this.registry] });

  constructor(version: string) {
    this.build.set({ component: 'pilot', tag: version }, 1);
    collectDefaultMetrics({ register: this.registry });
  }

  /** Prometheus text format. */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
