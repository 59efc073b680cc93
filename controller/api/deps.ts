import type { CertificateAuthority } from '../ca/authority.js';
import type { Credentials } from '../auth/credentials.js';
import type { Catalog } from '../catalog/catalog.js';
import type { ResourceStore } from '../resources/resource-store.js';
import type { SnapshotHub } from '../snapshots/hub.js';
import type { TelemetryAggregator } from '../telemetry/aggregator.js';
import type { ControlPlaneMetrics } from '../metrics.js';

/** What the API handlers work with; built by controller/controller.ts. */
export interface ApiDeps {
  store: ResourceStore;
  catalog: Catalog;
  catalogBackend: 'consul' | 'embedded';
  ca: CertificateAuthority;
  credentials: Credentials;
  hub: SnapshotHub;
  telemetry: TelemetryAggregator;
  metrics: ControlPlaneMetrics;
  health(): { status: 'ok' | 'degraded'; components: Record<string, string> };
  /** Longest long-poll a proxy may ask for. */
  maxWatchMs: number;
  version: string;
  /** Policies in this namespace apply mesh-wide. */
  rootNamespace: string;
  /** Whether this controller runs the mesh's once-only work (controller/leader). */
  isLeader(): boolean;
  /** Bytes of sidecar state reports kept per workload identity (controller/api/config-dump-store.ts). */
  configDumpBytesPerIdentity: number;
}
