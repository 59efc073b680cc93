// Installs capture rules for the workloads whose sidecars are up. Containers each have their own
// network namespace; a VM's services share the host's, so its rules are rebuilt for all of them.
import { hasApplication, interceptionFor, type AgentSettings, type DiscoveredWorkload } from '../core/agent/plan.js';
import { hostFamilies, IptablesInterceptor, type NetnsTarget } from './interception/iptables.js';
import type { Family } from '../core/interception/rules.js';

export interface CaptureApplier {
  /** `w`'s sidecar is ready: capture its traffic. `active` includes `w`. */
  install(w: DiscoveredWorkload, active: DiscoveredWorkload[]): Promise<void>;
  /** `w`'s sidecar is going: stop capturing (before it stops, so nothing is sent into the void). */
  uninstall(w: DiscoveredWorkload, active: DiscoveredWorkload[]): Promise<void>;
}

/** Docker: each container's own namespace, entered through its main process. */
export class ContainerCapture implements CaptureApplier {
  constructor(
    private readonly settings: AgentSettings,
    private readonly families: Family[] = hostFamilies(),
  ) {}

  async install(w: DiscoveredWorkload): Promise<void> {
    if (!hasApplication(w)) return;
    await new IptablesInterceptor({ pid: w.netnsPid! }, this.families).apply(interceptionFor([{ decl: w.decl }], this.settings));
  }

  async uninstall(w: DiscoveredWorkload): Promise<void> {
    // The namespace usually went with the container; when it is still there, clean it.
    if (w.netnsPid) await new IptablesInterceptor({ pid: w.netnsPid }, this.families).remove().catch(() => undefined);
  }
}

/** A VM: one namespace (the agent's own, or a named one) shared by all its services. */
export class HostCapture implements CaptureApplier {
  constructor(
    private readonly settings: AgentSettings,
    private readonly netns: NetnsTarget = undefined,
    private readonly families: Family[] = hostFamilies(),
  ) {}

  async install(_w: DiscoveredWorkload, active: DiscoveredWorkload[]): Promise<void> {
    await this.sync(active);
  }

  async uninstall(w: DiscoveredWorkload, active: DiscoveredWorkload[]): Promise<void> {
    await this.sync(active.filter((a) => a.instanceId !== w.instanceId));
  }

  async sync(all: DiscoveredWorkload[]): Promise<void> {
    const rules = new IptablesInterceptor(this.netns, this.families);
    // Gateways have no application whose traffic to capture.
    const active = all.filter(hasApplication);
    if (active.length === 0) return rules.remove();
    const sorted = [...active].sort((a, b) => a.instanceId.localeCompare(b.instanceId));
    await rules.apply(
      interceptionFor(
        sorted.map((w) => ({ decl: w.decl, ...(w.appUid !== undefined ? { appUid: w.appUid } : {}) })),
        this.settings,
      ),
    );
  }
}

/** systemd units install and remove capture themselves (ExecStartPost/ExecStopPost). */
export class UnitOwnedCapture implements CaptureApplier {
  async install(): Promise<void> {}
  async uninstall(): Promise<void> {}
}
