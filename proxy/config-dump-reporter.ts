// Sends the sidecar's live state (core/config-dump.ts) to the controller, where `meshctl
// proxy-config` reads it: soon after each snapshot is applied, and at every interval when it
// changed (an endpoint ejected or back, a certificate renewed). Unchanged state is not re-sent,
// but at least every few minutes (a controller that restarted has it again), and at the next interval to a
// controller the client failed over to.
import { createHash } from 'node:crypto';
import type { ConfigDump } from '../core/config-dump.js';
import type { ControllerClient } from './controller-client.js';

const RESEND_MS = 5 * 60_000;
const SOON_MS = 200;

export class ConfigDumpReporter {
  private timer: NodeJS.Timeout | undefined;
  private soonTimer: NodeJS.Timeout | undefined;
  private lastDigest = '';
  private lastSent = 0;
  /** The controller that has the last report: after a failover, the next one gets it too. */
  private lastController = '';
  private sending = false;

  constructor(
    private readonly client: ControllerClient,
    private readonly proxyId: string,
    private readonly collect: () => ConfigDump,
    private readonly intervalMs: number,
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.send(), this.intervalMs);
    this.timer.unref();
  }

  /** Something changed (a snapshot applied): report shortly, once for a burst. */
  soon(): void {
    if (this.soonTimer || !this.timer) return;
    this.soonTimer = setTimeout(() => {
      this.soonTimer = undefined;
      void this.send();
    }, SOON_MS);
    this.soonTimer.unref();
  }

  async send(): Promise<void> {
    if (this.sending) return;
    const dump = this.collect();
    const digest = createHash('sha256')
      .update(JSON.stringify({ ...dump, collectedAt: '' }))
      .digest('hex');
    if (digest === this.lastDigest && this.client.activeController === this.lastController && Date.now() - this.lastSent < RESEND_MS) return;
    this.sending = true;
    try {
      await this.client.request('PUT', `/v1/proxies/${encodeURIComponent(this.proxyId)}/config-dump`, dump);
      this.lastDigest = digest;
      this.lastSent = Date.now();
      this.lastController = this.client.activeController;
    } catch {
      // The next interval tries again; the controller's copy is only a view.
    } finally {
      this.sending = false;
    }
  }

  close(): void {
    clearInterval(this.timer);
    clearTimeout(this.soonTimer);
    this.timer = undefined;
  }
}
