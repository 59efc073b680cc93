// The host agent's loop: find workloads, start a sidecar beside each, capture its traffic once the
// sidecar is ready, register the instance; undo all of it when the workload goes. Runs are
// serialised and driven by the source's events plus a periodic resync, so a missed event or a
// failed start is repaired later. One workload's failure is logged and never blocks the others.
//
// Order for a new workload, and why: sidecar started -> sidecar ready -> rules installed ->
// instance registered. Until the rules are in, the app's connections go direct (plaintext, not
// lost); rules installed before the sidecar listens would refuse them. Nobody routes to the
// instance before it is registered, and it is registered only once its sidecar can take traffic.
import type { Logger } from 'pino';
import { fingerprint, hasApplication, isRegistered, reconcile, registrationFor, sidecarArgs, type AgentSettings, type DiscoveredWorkload, type RunningSidecar } from '../core/agent/plan.js';
import { SIDECAR_ENV } from '../common/sidecar-process.js';
import { asMeshError, MeshError } from '../core/errors.js';
import type { CaptureApplier } from './capture.js';
import type { ControllerLink } from './controller-link.js';
import { RegistrationHolderWatch } from './registration-holder.js';
import { sidecarReady } from './sidecar-ready.js';
import type { SidecarRuntime } from './runtime/runtime.js';
import type { WorkloadProblem, WorkloadSource } from './sources/source.js';

export interface AgentOptions {
  settings: AgentSettings;
  /** Full resync period; events make most runs. */
  resyncMs: number;
  /** How long a new sidecar has to become ready. */
  readyTimeoutMs: number;
  /** How often to ask which controller holds this host's registrations (when one does); default 5 s. */
  holderCheckMs?: number;
}

export class MeshAgent {
  private running: Promise<void> | undefined;
  private again = false;
  private timer: NodeJS.Timeout | undefined;
  private runtimeWatch: { close(): void } | undefined;
  private stopped = false;
  /** The periodic resync re-registers every active instance: a catalog that lost its state
   * (a restarted Consul dev agent, a wiped registry) is refilled without an agent restart. */
  private reassert = false;
  /** Workloads whose sidecar is up, by instance id. */
  private readonly active = new Map<string, DiscoveredWorkload>();
  /** Problems already logged, so a bad label is reported once, not every resync. */
  private reported = new Set<string>();
  /** Sidecars held by a person's stop, so that each is logged once. */
  private readonly held = new Set<string>();
  private holderWatch: RegistrationHolderWatch | undefined;

  constructor(
    private readonly source: WorkloadSource,
    private readonly runtime: SidecarRuntime,
    private readonly capture: CaptureApplier,
    private readonly controller: ControllerLink,
    private readonly opts: AgentOptions,
    private readonly log: Logger,
  ) {}

  /** Adopts what is already running, starts what is missing, then follows the source. */
  async start(): Promise<void> {
    await this.sync();
    this.source.watch({
      changed: () => this.schedule(),
      stopped: (ref) => void this.onStopped(ref),
      status: (up, detail) => (up ? this.log.info(detail) : this.log.error(detail)),
    });
    this.runtimeWatch = this.runtime.watch?.(() => this.schedule());
    this.timer = setInterval(() => {
      this.reassert = true;
      this.schedule();
    }, this.opts.resyncMs);
    this.timer.unref();
    const link = this.controller;
    // With one controller there is no other to move to: the resync alone repairs.
    if (link.registrationHolder && link.url.split(',').length > 1) {
      this.holderWatch = new RegistrationHolderWatch({
        probe: (timeoutMs) => link.registrationHolder!(timeoutMs),
        moved: (from, to) => {
          this.log.warn({ from, to }, "the controller that held this host's registrations does not answer; registering every instance again through the next");
          this.reassert = true;
          this.schedule();
        },
        intervalMs: this.opts.holderCheckMs ?? 5_000,
        timeoutMs: 3_000,
        // The first registrations went through it: a controller lost before the watch's first
        // look is a move too, not the starting point.
        ...(link.activeController ? { holder: link.activeController } : {}),
      });
      void this.holderWatch.start();
    }
  }

  /**
   * SIGTERM: stops reacting and lets a reconciliation in progress finish, for up to `deadlineMs`.
   * Sidecars, rules and registrations stay, so that a restarted agent adopts them.
   */
  async drain(deadlineMs = 10_000): Promise<void> {
    this.close();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.running, new Promise((r) => (timer = setTimeout(r, deadlineMs)))]);
    clearTimeout(timer);
  }

  /** Stops reacting now; a reconciliation in progress is not waited for. */
  close(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    this.holderWatch?.close();
    this.runtimeWatch?.close();
    this.source.close();
    return Promise.resolve();
  }

  /** Runs one reconciliation now (or right after the one in progress). */
  sync(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      do {
        this.again = false;
        try {
          await this.reconcileOnce();
        } catch (err) {
          this.log.error({ err: asMeshError(err).message }, 'reconciliation failed; retrying at the next event or resync');
        }
      } while (this.again && !this.stopped);
    })().finally(() => (this.running = undefined));
    return this.running;
  }

  private schedule(): void {
    if (!this.stopped) void this.sync();
  }

  /** Deregisters at once, outside the serialised run, so that nobody is routed to a dead app. */
  private async onStopped(appRef: string): Promise<void> {
    for (const w of this.active.values()) {
      if (w.appRef !== appRef || !isRegistered(w)) continue;
      try {
        await this.controller.deregister(w.instanceId);
        this.log.info({ instance: w.instanceId }, 'application stopped: instance deregistered');
      } catch (err) {
        this.log.error({ instance: w.instanceId, err: asMeshError(err).message }, 'could not deregister; the next run retries');
      }
    }
    this.schedule();
  }

  private async reconcileOnce(): Promise<void> {
    const scan = await this.source.scan();
    this.report(scan.problems);
    const sidecars = await this.runtime.list();
    const plan = reconcile(scan.workloads, sidecars);
    const reassert = this.reassert;
    this.reassert = false;

    for (const s of plan.remove) await this.removeOne(s);
    for (const { workload } of plan.hold) await this.guard(workload, () => this.holdOne(workload));
    for (const id of this.held) if (!plan.hold.some((h) => h.workload.instanceId === id)) this.held.delete(id);
    for (const { workload } of plan.keep) {
      const known = this.active.get(workload.instanceId);
      if (known && fingerprint(known) === fingerprint(workload)) {
        if (reassert && isRegistered(workload)) await this.guard(workload, () => this.controller.register(registrationFor(workload)));
        continue;
      }
      // Adopted from an earlier life of the agent: re-assert rules and registration (idempotent).
      await this.guard(workload, async () => {
        await this.joined(workload);
        this.log.info({ instance: workload.instanceId }, 'adopted running sidecar');
      });
    }
    for (const w of plan.start) await this.guard(w, () => this.startOne(w));
  }

  private async startOne(w: DiscoveredWorkload): Promise<void> {
    const token = await this.controller.bootstrapToken(w.decl.service, w.decl.namespace, w.decl.serviceAccount);
    const launch = {
      args: sidecarArgs(w, this.opts.settings),
      env: { ...SIDECAR_ENV, MESH_PROXY_CA_PEM: this.controller.caPem, MESH_PROXY_BOOTSTRAP_TOKEN: token },
      fingerprint: fingerprint(w),
    };
    const sidecar = await this.runtime.start(w, launch);
    try {
      await this.waitReady(w, sidecar);
    } catch (err) {
      await this.runtime.remove(sidecar).catch(() => undefined);
      throw err;
    }
    await this.joined(w);
    this.log.info({ instance: w.instanceId, service: w.decl.service, address: w.address }, 'workload joined the mesh');
  }

  /**
   * The sidecar is up: capture, register, and only then count the workload as active, so that a
   * failure in either step is retried by the next run (the sidecar itself is kept).
   */
  private async joined(w: DiscoveredWorkload): Promise<void> {
    // A gateway has no application to capture; it is registered when mesh workloads call it (an egress gateway).
    if (hasApplication(w)) {
      const others = [...this.active.values()].filter((a) => a.instanceId !== w.instanceId);
      await this.capture.install(w, [...others, w]);
    }
    if (isRegistered(w)) await this.controller.register(registrationFor(w));
    this.active.set(w.instanceId, w);
  }

  /** Stopped on request: out of the catalog at once; the unit is left as the person left it. */
  private async holdOne(w: DiscoveredWorkload): Promise<void> {
    if (this.held.has(w.instanceId)) return;
    if (isRegistered(w)) await this.controller.deregister(w.instanceId);
    if (hasApplication(w)) await this.capture.uninstall(w, [...this.active.values()]);
    this.active.delete(w.instanceId);
    this.held.add(w.instanceId);
    this.log.info({ instance: w.instanceId }, 'sidecar stopped on request: instance deregistered; it stays stopped until it is started again');
  }

  private async removeOne(s: RunningSidecar): Promise<void> {
    const w = this.active.get(s.instanceId);
    try {
      if (!w || isRegistered(w)) await this.controller.deregister(s.instanceId);
      if (w && hasApplication(w)) await this.capture.uninstall(w, [...this.active.values()]);
      await this.runtime.remove(s);
      this.active.delete(s.instanceId);
      this.log.info({ instance: s.instanceId }, 'sidecar removed');
    } catch (err) {
      this.log.error({ instance: s.instanceId, err: asMeshError(err).message }, 'could not remove the sidecar; the next run retries');
    }
  }

  private async waitReady(w: DiscoveredWorkload, sidecar: RunningSidecar): Promise<void> {
    const alive = async () => !this.stopped && Boolean((await this.runtime.list()).find((x) => x.ref === sidecar.ref)?.running);
    if (await sidecarReady(w.address, w.decl.sidecar.statusPort, this.opts.readyTimeoutMs, alive)) return;
    const logs = await this.runtime.logs(sidecar);
    throw new MeshError('UNAVAILABLE', `the sidecar did not become ready${logs ? `; its last output:\n${logs}` : ''}`);
  }

  /** Runs one workload's step; a failure is logged with the workload's name and nothing else stops. */
  private async guard(w: DiscoveredWorkload, step: () => Promise<void>): Promise<void> {
    try {
      await step();
    } catch (err) {
      this.log.error({ instance: w.instanceId, service: w.decl.service, err: asMeshError(err).message }, 'workload could not join the mesh; retrying at the next resync');
    }
  }

  private report(problems: WorkloadProblem[]): void {
    const now = new Set<string>();
    for (const p of problems) {
      const key = JSON.stringify(p);
      now.add(key);
      if (this.reported.has(key)) continue;
      const lines = p.violations.map((v) => `  ${v.path}: ${v.message}`).join('\n');
      this.log.error({ workload: p.what, violations: p.violations }, `${p.what} cannot join the mesh:\n${lines}`);
    }
    this.reported = now;
  }
}
