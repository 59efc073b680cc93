// Where workloads come from: Docker containers with mesh labels, or a VM's service files.
import type { DiscoveredWorkload } from '../../core/agent/plan.js';
import type { Violation } from '../../core/errors.js';

/** Something that asked to join the mesh and cannot, with every reason. */
export interface WorkloadProblem {
  /** What the person knows it by: `container reviews-v1 (3f2a9c1d4b5e)`, a file path. */
  what: string;
  violations: Violation[];
}

export interface WorkloadScan {
  workloads: DiscoveredWorkload[];
  problems: WorkloadProblem[];
}

export interface SourceEvents {
  /** Something may have changed: scan again. */
  changed(): void;
  /** An application stopped: deregister it now, before the next scan. */
  stopped(appRef: string): void;
  /** The source lost or regained its backend (the Docker engine). */
  status(up: boolean, detail: string): void;
}

export interface WorkloadSource {
  scan(): Promise<WorkloadScan>;
  watch(events: SourceEvents): void;
  close(): void;
}
