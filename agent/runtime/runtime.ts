// Where sidecars run: containers beside the app (Docker), or processes on a VM (directly, or as
// systemd units). One contract, tested against each implementation that can run here.
import type { DiscoveredWorkload, RunningSidecar } from '../../core/agent/plan.js';

export interface SidecarLaunch {
  /** mesh-proxy's arguments (core/agent/plan.ts sidecarArgs; the runtime adds --data-dir). */
  args: string[];
  /** Secrets and bundles passed in the environment, never on a command line. */
  env: Record<string, string>;
  fingerprint: string;
}

export interface SidecarRuntime {
  readonly kind: 'docker' | 'process' | 'systemd';
  /** Sidecars this agent started (now or in an earlier life) that still exist. */
  list(): Promise<RunningSidecar[]>;
  /** Starts the sidecar; resolves once it has started (readiness is the agent's to check). */
  start(w: DiscoveredWorkload, launch: SidecarLaunch): Promise<RunningSidecar>;
  /** Last lines of the sidecar's output, for error messages. */
  logs(s: RunningSidecar): Promise<string>;
  /** Stops and forgets it; a missing sidecar is fine. */
  remove(s: RunningSidecar): Promise<void>;
  /** Where sidecars change state outside the agent (a person's `systemctl stop`): calls `changed` then. */
  watch?(changed: () => void): { close(): void };
}
